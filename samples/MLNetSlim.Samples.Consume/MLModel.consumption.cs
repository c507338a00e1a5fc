using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Control;
using MLNetSlim.MLNet;

namespace MLNetSlim.Samples.Consume;

/// <summary>
/// Loads the model zip once (lazily, on first use) and predicts with a prediction engine, in the style of Model
/// Builder's MLModel.consumption.cs. <see cref="Network"/> is the controllable multi-task transformer inside the zip: set
/// its <c>Budget</c> and <c>TaskWeights</c> before <see cref="Predict"/> to choose a width configuration at run time.
/// Not thread-safe (neither is ML.NET's PredictionEngine): use one instance per thread, or see the WebApi sample.
/// </summary>
public sealed class MLModel
{
    private readonly Lazy<(PredictionEngine<ModelInput, ModelOutput> Engine, ControllableMultiTaskTransformer Network)> _loaded;

    /// <summary>Remembers the path; the zip is read on first use.</summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="modelPath"/>.</exception>
    public MLModel(string modelPath)
    {
        string path = Path.GetFullPath(modelPath);
        if (!File.Exists(path))
            throw new FileNotFoundException($"Model file '{path}' does not exist; train one with MLNetSlim.Samples.Train.", path);
        _loaded = new(() => Load(path));
    }

    /// <summary>The network inside the model: Budget, TaskWeights, Configuration, ConfigurationMacs, FullMacs.</summary>
    public ControllableMultiTaskTransformer Network => _loaded.Value.Network;

    /// <summary>Predicts every task for one image with the current budget and task weights.</summary>
    public ModelOutput Predict(ModelInput input) => _loaded.Value.Engine.Predict(input);

    /// <summary>Class names of <paramref name="task"/>, in the order of its scores.</summary>
    public string[] ClassNames(string task)
    {
        VBuffer<ReadOnlyMemory<char>> names = default;
        _loaded.Value.Engine.OutputSchema[ControllableMultiTaskTransformer.ScoreColumnName(task)].GetSlotNames(ref names);
        return names.DenseValues().Select(n => n.ToString()).ToArray();
    }

    private static (PredictionEngine<ModelInput, ModelOutput>, ControllableMultiTaskTransformer) Load(string path)
    {
        var mlContext = new MLContext();
        mlContext.AddMLNetSlim(); // lets ML.NET read MLNetSlim's transformer from the zip
        ITransformer model = mlContext.Model.LoadChecked(path, out DataViewSchema _);
        ControllableMultiTaskTransformer network = model.GetControllableMultiTaskTransformer();
        string[] tasks = network.Tasks.Select(t => t.Name).ToArray();
        if (!tasks.Order().SequenceEqual(ModelOutput.TaskNames.Order()))
            throw new InvalidOperationException($"The model's tasks are [{string.Join(", ", tasks)}] but ModelOutput declares " +
                $"[{string.Join(", ", ModelOutput.TaskNames)}]; edit ModelOutput.cs to match your labels.tsv columns.");
        return (mlContext.Model.CreatePredictionEngine<ModelInput, ModelOutput>(model), network);
    }
}
