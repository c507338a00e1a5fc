using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.MLNet;
using MLNetSlim.Architecture;
using MLNetSlim.Testing;

/// <summary>
/// "save-loop" mode, for the crash-safe saving test: saves two different models alternately to one path with
/// <c>mlContext.Model.SaveAtomic</c> (or, with --in-place, with <c>mlContext.Model.Save</c> to the path) until killed.
/// Prints "ready" before the first save and "saved N" after each. Usage: save-loop &lt;target.zip&gt; [--in-place].
/// </summary>
internal static class SaveLoopHost
{
    /// <summary>Input size of the models: large enough that one save takes tens of milliseconds.</summary>
    public const int C = 3, H = 48, W = 48;

    public static LinearMultiTaskModel Model(int seed) => new(C, H, W, new[]
    {
        new TaskDefinition("Shape", TaskKind.Classification, 3, new[] { "circle", "square", "triangle" }),
        new TaskDefinition("Size", TaskKind.Classification, 2, new[] { "small", "large" }),
    }, WidthSet.Default, seed);

    public static DataViewSchema Schema(MLContext ml)
    {
        SchemaDefinition def = SchemaDefinition.Create(typeof(Row));
        def["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, C * H * W);
        return ml.Data.LoadFromEnumerable(Array.Empty<Row>(), def).Schema;
    }

    public static int Run(string[] args)
    {
        string target = args[0];
        bool inPlace = args.Contains("--in-place");
        var ml = new MLContext(1).AddMLNetSlim();
        MultiTaskModelLoaders.Register(LinearMultiTaskModel.Load);
        DataViewSchema schema = Schema(ml);
        ITransformer[] models = { new ControllableMultiTaskTransformer(Model(2)), new ControllableMultiTaskTransformer(Model(1)) };
        Console.WriteLine("ready");
        Console.Out.Flush();
        for (long i = 0; ; i++)
        {
            ITransformer m = models[i % 2];
            if (inPlace) ml.Model.Save(m, schema, target);
            else ml.Model.SaveAtomic(m, schema, target);
            Console.WriteLine($"saved {i}");
            Console.Out.Flush();
        }
    }
}
