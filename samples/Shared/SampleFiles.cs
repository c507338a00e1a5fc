using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MLNetSlim.MLNet;
using SkiaSharp;

namespace MLNetSlim.Samples;

/// <summary>
/// Reads the samples' input files with errors a person can act on (compiled into each sample): images decoded in full
/// (a truncated or corrupt file is an error naming it, not a half-grey prediction) and model zips checked before ML.NET
/// reads them.
/// </summary>
internal static class SampleFiles
{
    /// <summary>The image formats ML.NET's <see cref="MLImage"/> reads.</summary>
    public const string ImageFormats = "PNG, JPEG, BMP, GIF, WebP";

    /// <summary>Loads an image file after checking that it exists and decodes completely.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">Not an image, or truncated/corrupt (the message names the file).</exception>
    public static MLImage LoadImage(string path)
    {
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new FileNotFoundException($"'{path}' is a folder, not an image file.", full);
        if (!File.Exists(full)) throw new FileNotFoundException($"image file '{full}' does not exist.", full);
        byte[] bytes = File.ReadAllBytes(full);
        CheckImage(bytes, $"'{path}'");
        return MLImage.CreateFromStream(new MemoryStream(bytes, writable: false));
    }

    /// <summary>
    /// Throws unless <paramref name="bytes"/> decode completely as an image. ML.NET (SkiaSharp) accepts a truncated PNG
    /// or JPEG and fills the missing rows; this asks the codec whether the input was complete.
    /// </summary>
    /// <param name="bytes">The file's bytes.</param>
    /// <param name="what">How to name the image in the message, e.g. "'data/x.png'" or "the request body".</param>
    /// <exception cref="InvalidDataException">Not an image, or truncated/corrupt.</exception>
    public static void CheckImage(byte[] bytes, string what)
    {
        if (bytes.Length == 0) throw new InvalidDataException($"{what} is empty, not an image.");
        using SKData data = SKData.CreateCopy(bytes);
        using SKCodec? codec = SKCodec.Create(data);
        if (codec is null) throw new InvalidDataException($"{what} is not an image ({ImageFormats}).");
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Premul);
        if (info.Width <= 0 || info.Height <= 0) throw new InvalidDataException($"{what} is an image of size {info.Width}x{info.Height}.");
        using var bitmap = new SKBitmap(info);
        SKCodecResult result = codec.GetPixels(info, bitmap.GetPixels());
        if (result != SKCodecResult.Success)
            throw new InvalidDataException(result == SKCodecResult.IncompleteInput
                ? $"{what} is truncated: the image data ends before the last row."
                : $"{what} is corrupt: the image data cannot be decoded ({result}).");
    }

    /// <summary>Checks that <paramref name="path"/> is an existing zip file (before ML.NET, whose errors do not name it).</summary>
    /// <exception cref="FileNotFoundException">Missing, or a folder.</exception>
    /// <exception cref="InvalidDataException">Not a zip file.</exception>
    public static string CheckModelFile(string path)
    {
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full))
            throw new FileNotFoundException($"'{full}' is a folder; pass the model zip file (e.g. model.zip).", full);
        if (!File.Exists(full))
            throw new FileNotFoundException($"model file '{full}' does not exist; train one with MLNetSlim.Samples.Train.", full);
        Span<byte> magic = stackalloc byte[4];
        using (FileStream stream = File.OpenRead(full))
        {
            if (stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) < 4 || magic[0] != 'P' || magic[1] != 'K' || magic[2] != 3 || magic[3] != 4)
                throw new InvalidDataException($"'{full}' is not a model zip (not a zip file).");
        }
        return full;
    }
}

/// <summary>
/// A model zip ready for a <c>PredictionEngine&lt;TInput, TOutput&gt;</c> whose input is an <see cref="MLImage"/>
/// column <c>Image</c> and whose outputs are <c>PredictedLabel.T</c> (text) and <c>Score.T</c> per task. Accepts both
/// kinds of MLNetSlim model: an image pipeline (what MLNetSlim.Samples.Train saves: input <c>Image</c>) and a model on a
/// pixel vector (what the demo's main job saves as out/model.zip: input <c>Features</c>, C x H x W floats in [0, 1]); for
/// the latter it puts resize -> grey -> pixels in front, and turns key-typed predicted labels into their class names.
/// </summary>
internal sealed class ServingModel
{
    private ServingModel(MLContext mlContext, string path, ITransformer transformer, ControllableMultiTaskTransformer network, string inputKind)
    {
        MLContext = mlContext;
        Path = path;
        Transformer = transformer;
        Network = network;
        InputKind = inputKind;
    }

    /// <summary>The context the model was loaded with.</summary>
    public MLContext MLContext { get; }

    /// <summary>The model zip, full path.</summary>
    public string Path { get; }

    /// <summary>Image in, label text and scores out.</summary>
    public ITransformer Transformer { get; }

    /// <summary>The controllable multi-task network inside.</summary>
    public ControllableMultiTaskTransformer Network { get; }

    /// <summary>"image" (an image pipeline) or "features" (a pixel-vector model; the image preparation is added here).</summary>
    public string InputKind { get; }

    /// <summary>Loads <paramref name="modelPath"/> and checks its tasks against <paramref name="declaredTasks"/>.</summary>
    /// <typeparam name="TInput">The sample's ModelInput (an <see cref="MLImage"/> column named <c>Image</c>).</typeparam>
    /// <exception cref="FileNotFoundException">No model file.</exception>
    /// <exception cref="InvalidDataException">Not a zip, not a model ML.NET can read, or not an MLNetSlim model.</exception>
    /// <exception cref="InvalidOperationException">The model's tasks differ from the declared ones.</exception>
    public static ServingModel Load<TInput>(string modelPath, IReadOnlyList<string> declaredTasks, MLContext? mlContext = null) where TInput : class
    {
        string path = SampleFiles.CheckModelFile(modelPath);
        mlContext ??= new MLContext();
        mlContext.AddMLNetSlim(); // lets ML.NET read MLNetSlim's transformer from the zip
        ITransformer loaded;
        DataViewSchema inputSchema;
        try
        {
            loaded = mlContext.Model.LoadChecked(path, out inputSchema);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"'{path}' is not an ML.NET model this sample can read: {SampleCommandLine.UserMessage(e)}", e);
        }
        ControllableMultiTaskTransformer network;
        try
        {
            network = loaded.GetControllableMultiTaskTransformer();
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidDataException($"'{path}': {SampleCommandLine.UserMessage(e)}", e);
        }
        string[] tasks = network.Tasks.Select(t => t.Name).ToArray();
        if (!tasks.Order(StringComparer.Ordinal).SequenceEqual(declaredTasks.Order(StringComparer.Ordinal)))
            throw new InvalidOperationException($"the model's tasks are {string.Join(", ", tasks)} but ModelOutput declares " +
                $"{string.Join(", ", declaredTasks)}; edit ModelOutput.cs to match your labels.tsv columns.");

        IDataView empty = mlContext.Data.LoadFromEnumerable(Array.Empty<TInput>());
        var parts = new List<ITransformer>();
        string kind;
        // ML.NET does not save image-typed columns in the zip's input schema, so ask the model whether it accepts an Image.
        if (AcceptsImages(loaded, empty.Schema))
        {
            kind = "image";
        }
        else if (inputSchema.GetColumnOrNull(network.FeatureColumnName) is { Type: VectorDataViewType vector }
                 && vector.Size == network.Model.Channels * network.Model.Height * network.Model.Width)
        {
            // The demo's model reads C x H x W floats in [0, 1] (grey for C = 1, planar RGB for C = 3).
            kind = "features";
            int c = network.Model.Channels;
            if (c is not (1 or 3)) throw new InvalidDataException($"'{path}' reads {c}-channel images; the samples handle 1 (grey) or 3 (RGB).");
            IEstimator<ITransformer> prepare = mlContext.Transforms.ResizeImages("Image", network.Model.Width, network.Model.Height, "Image");
            if (c == 1) prepare = prepare.Append(mlContext.Transforms.ConvertToGrayscale("Image"));
            prepare = prepare.Append(mlContext.Transforms.ExtractPixels(network.FeatureColumnName, "Image",
                colorsToExtract: c == 1 ? ImagePixelExtractingEstimator.ColorBits.Red : ImagePixelExtractingEstimator.ColorBits.Rgb,
                interleavePixelColors: false, scaleImage: 1 / 255f));
            parts.Add(prepare.Fit(empty));
        }
        else
        {
            throw new InvalidDataException($"'{path}' takes neither an image column 'Image' nor a '{network.FeatureColumnName}' vector of " +
                $"{network.Model.Channels * network.Model.Height * network.Model.Width} floats (its input columns: " +
                string.Join(", ", inputSchema.Select(c => $"{c.Name} {c.Type}")) + ").");
        }
        parts.Add(loaded);
        var chain = new TransformerChain<ITransformer>(parts.ToArray());
        DataViewSchema output = chain.GetOutputSchema(empty.Schema);
        InputOutputColumnPair[] keys = tasks.Select(ControllableMultiTaskTransformer.PredictedLabelColumnName)
            .Where(name => output.GetColumnOrNull(name) is { Type: KeyDataViewType })
            .Select(name => new InputOutputColumnPair(name)).ToArray();
        if (keys.Length > 0)
        {
            parts.Add(mlContext.Transforms.Conversion.MapKeyToValue(keys).Fit(chain.Transform(empty)));
            chain = new TransformerChain<ITransformer>(parts.ToArray());
        }
        return new ServingModel(mlContext, path, chain, network, kind);
    }

    private static bool AcceptsImages(ITransformer model, DataViewSchema imageInput)
    {
        try
        {
            _ = model.GetOutputSchema(imageInput);
            return true;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return false; // "Schema mismatch" / a missing input column
        }
    }

    /// <summary>Class names of <paramref name="task"/>, in the order of its scores.</summary>
    public string[] ClassNames(string task, DataViewSchema outputSchema)
    {
        VBuffer<ReadOnlyMemory<char>> names = default;
        outputSchema[ControllableMultiTaskTransformer.ScoreColumnName(task)].GetSlotNames(ref names);
        return names.DenseValues().Select(n => n.ToString()).ToArray();
    }
}
