using Microsoft.ML;
using Microsoft.ML.Runtime;
using MLNetSlim.Model;

namespace MLNetSlim.MLNet;

/// <summary>
/// MLNetSlim's entry points on <see cref="MLContext"/>: the trainer, the wrapper of an existing model, and the
/// registration that lets <c>mlContext.Model.Load</c> read saved models.
/// </summary>
public static class MLNetSlimCatalog
{
    /// <summary>
    /// Trains a controllable multi-task network: one shared encoder, one classifier per task, runtime control of
    /// compute (<see cref="ControllableMultiTaskTransformer.Budget"/>) and task preferences
    /// (<see cref="ControllableMultiTaskTransformer.TaskWeights"/>). Also registers MLNetSlim's loader on this context.
    /// </summary>
    /// <param name="catalog"><c>mlContext.MulticlassClassification.Trainers</c>.</param>
    /// <param name="options">Tasks, image shape (C, H, W), widths and training settings.</param>
    /// <returns>The estimator.</returns>
    /// <exception cref="ArgumentException">Invalid options (the message names the option).</exception>
    /// <example>
    /// Train on a 784-float <c>Features</c> column and two key-typed label columns, then predict at 40 % of the MACs:
    /// <code>
    /// var ml = new MLContext(seed: 1);
    /// var pipeline = ml.Transforms.Conversion.MapValueToKey("digit")
    ///     .Append(ml.Transforms.Conversion.MapValueToKey("fashion"))
    ///     .Append(ml.MulticlassClassification.Trainers.ControllableMultiTask(new ControllableMultiTaskEstimator.Options
    ///     {
    ///         Tasks = { new("digit"), new("fashion") }, ImageChannels = 1, ImageHeight = 28, ImageWidth = 28, Epochs = 3,
    ///     }));
    /// ITransformer model = pipeline.Fit(trainData);
    /// ControllableMultiTaskTransformer slim = model.GetControllableMultiTaskTransformer();
    /// slim.Budget = Budget.FractionOfFull(0.4);
    /// IDataView scored = model.Transform(testData); // Score.digit, PredictedLabel.digit, Score.fashion, ...
    /// </code>
    /// </example>
    public static ControllableMultiTaskEstimator ControllableMultiTask(
        this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, ControllableMultiTaskEstimator.Options options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new ControllableMultiTaskEstimator(MLNetInternals.EnvironmentOf(catalog), options, null);
    }

    /// <summary>
    /// Wraps an already trained network as an estimator whose <c>Fit</c> only checks the schema (like
    /// <c>ApplyOnnxModel</c>), so it can be appended to a pipeline. Also registers MLNetSlim's loader on this context.
    /// For the transformer itself use the <see cref="ControllableMultiTaskTransformer"/> constructor.
    /// </summary>
    /// <param name="catalog"><c>mlContext.Transforms</c>.</param>
    /// <param name="model">The network.</param>
    /// <param name="featureColumnName">The image column: Vector&lt;Single, C*H*W&gt; in (C, H, W) order.</param>
    /// <returns>The estimator.</returns>
    /// <example>
    /// Wrap a model trained outside ML.NET (here with <c>ModelTrainer.Train</c>) and save it as an ML.NET zip:
    /// <code>
    /// using ControllableMultiTaskModel network = ModelTrainer.Train(trainSet, null, new ModelOptions());
    /// var ml = new MLContext();
    /// ControllableMultiTaskTransformer transformer = ml.Transforms.ApplyControllableMultiTaskModel(network).Fit(featuresView);
    /// ml.Model.Save(transformer, featuresView.Schema, "model.zip");
    /// </code>
    /// </example>
    public static ControllableMultiTaskEstimator ApplyControllableMultiTaskModel(this TransformsCatalog catalog, IMultiTaskModel model,
        string featureColumnName = "Features")
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new ControllableMultiTaskEstimator(MLNetInternals.EnvironmentOf(catalog), model, featureColumnName);
    }

    /// <summary>
    /// Registers MLNetSlim's transformer loader on <paramref name="mlContext"/>, so that <c>mlContext.Model.Load</c>
    /// can read zips holding a <see cref="ControllableMultiTaskTransformer"/>. Call it once per MLContext before
    /// <c>Load</c> (the trainer and <see cref="ApplyControllableMultiTaskModel"/> call it for you); idempotent and
    /// thread-safe. Without it ML.NET fails with "Couldn't load model: 'TransformerChain\Transform_000'" or similar;
    /// ML.NET's error cannot be changed from outside;
    /// <see cref="LoadChecked"/> and <see cref="ExplainLoadFailure"/> turn it into one that names this call.
    /// </summary>
    /// <param name="mlContext">The context.</param>
    /// <returns><paramref name="mlContext"/>, for chaining.</returns>
    /// <exception cref="MissingMemberException">This ML.NET version lacks an internal member MLNetSlim needs (the
    /// message names it).</exception>
    /// <example>
    /// <code>
    /// var ml = new MLContext().AddMLNetSlim();
    /// ITransformer model = ml.Model.Load("model.zip", out DataViewSchema inputSchema);
    /// </code>
    /// </example>
    public static MLContext AddMLNetSlim(this MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        Register(mlContext);
        return mlContext;
    }

    /// <summary>
    /// Cancels everything running on <paramref name="mlContext"/>: a running <c>Fit</c> of the controllable multi-task
    /// trainer throws <see cref="OperationCanceledException"/> before its next optimiser step (the batch in progress
    /// finishes), and ML.NET's own components stop as after ML.NET's <c>CancelExecution</c>, which Microsoft.ML 5.0.1
    /// keeps internal; this extension calls it. Thread-safe; call it from any thread (e.g. a UI's cancel button). The
    /// context stays cancelled: use a new MLContext for further training.
    /// </summary>
    /// <param name="mlContext">The context.</param>
    /// <exception cref="MissingMemberException">This ML.NET version lacks the internal member (the message names it).</exception>
    public static void CancelExecution(this MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        MLNetInternals.CancelExecution(mlContext);
    }

    /// <summary>True when <see cref="AddMLNetSlim"/> (or an MLNetSlim catalog method) ran on <paramref name="mlContext"/>.</summary>
    /// <example>
    /// <code>
    /// if (!ml.IsMLNetSlimRegistered()) ml.AddMLNetSlim();
    /// </code>
    /// </example>
    public static bool IsMLNetSlimRegistered(this MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        return MLNetInternals.IsRegistered(mlContext);
    }

    /// <summary>
    /// <c>mlContext.Model.Load</c> with MLNetSlim's integrity checks and one error type for bad files: it first
    /// verifies the CRC-32 of every entry of the zip (ML.NET and .NET do not), then loads; a damaged, truncated or
    /// foreign file, or one of a newer format, gives an <see cref="InvalidModelFileException"/> naming the file, the
    /// entry and what is wrong. When the zip holds an MLNetSlim transformer and <see cref="AddMLNetSlim"/> was not called
    /// on this context, it throws an <see cref="InvalidOperationException"/> saying to call
    /// <c>mlContext.AddMLNetSlim()</c> (ML.NET's error is the inner exception). Registers nothing.
    /// </summary>
    /// <param name="catalog"><c>mlContext.Model</c>.</param>
    /// <param name="filePath">The model zip.</param>
    /// <param name="inputSchema">The saved input schema, or null when none was saved.</param>
    /// <returns>The model.</returns>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidModelFileException">The file is damaged, truncated, not an ML.NET model zip, or of a
    /// format version this library cannot read.</exception>
    /// <exception cref="InvalidOperationException">The registration is missing (the message names the call to add), or
    /// no reader is registered for a custom model type.</exception>
    /// <example>
    /// <code>
    /// var ml = new MLContext().AddMLNetSlim();
    /// ITransformer model = ml.Model.LoadChecked("model.zip", out DataViewSchema inputSchema);
    /// ControllableMultiTaskTransformer slim = model.GetControllableMultiTaskTransformer();
    /// </code>
    /// </example>
    public static ITransformer LoadChecked(this ModelOperationsCatalog catalog, string filePath, out DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrWhiteSpace(filePath);
        IHostEnvironment env = MLNetInternals.EnvironmentOf(catalog);
        if (!File.Exists(filePath)) throw new FileNotFoundException($"Model file '{filePath}' does not exist.", filePath);
        ZipIntegrity.VerifyFile(filePath);
        try
        {
            return catalog.Load(filePath, out inputSchema);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // ML.NET invokes the loaders of chains by reflection, so an error from inside comes wrapped in
            // TargetInvocationException: report the error itself.
            Exception inner = e;
            while (inner is System.Reflection.TargetInvocationException { InnerException: Exception i }) inner = i;
            if (inner is InvalidModelFileException m) throw m.WithFile(filePath);
            if (Explain(env, filePath, e) is Exception better) throw better;
            if (IsMissingReader(inner) || inner is IOException or UnauthorizedAccessException or MissingMemberException or OperationCanceledException)
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(inner);
            // The zip's checksums are right, so ML.NET itself could not make sense of its content.
            throw new InvalidModelFileException(filePath, null,
                $"ML.NET could not load it as a model ({inner.GetType().Name}: {FirstLine(inner.Message)}); it is not an ML.NET model zip, or one written by an incompatible version.", inner);
        }
    }

    private static bool IsMissingReader(Exception e) =>
        e is InvalidOperationException && e.Message.Contains("MultiTaskModelLoaders.Register", StringComparison.Ordinal);

    private static string FirstLine(string message)
    {
        int n = message.IndexOfAny(new[] { '\r', '\n' });
        string line = n < 0 ? message : message[..n];
        return line.Length > 200 ? line[..200] + "..." : line;
    }

    /// <summary>
    /// Saves <paramref name="model"/> to <paramref name="filePath"/> crash-safely, unlike <c>mlContext.Model.Save</c>
    /// to a path, which writes the target in place (a crash or kill during that save leaves a truncated zip that no
    /// longer loads). This writes a temporary file in the same folder, flushes it to disk (fsync), moves it over the
    /// target in one atomic rename and syncs the folder: at every moment the target is the complete old model or the
    /// complete new one. The temporary file is removed on failure, and temporary files of earlier saves that were
    /// killed are removed by the next save to the same path. Do not save to one path from two processes at once.
    /// </summary>
    /// <param name="catalog"><c>mlContext.Model</c>.</param>
    /// <param name="model">The model (a transformer chain or a single transformer).</param>
    /// <param name="inputSchema">The input schema to save with it, or null.</param>
    /// <param name="filePath">The target zip.</param>
    /// <returns>The size of the saved file in bytes.</returns>
    /// <exception cref="ArgumentException"><paramref name="filePath"/> is empty or a folder.</exception>
    /// <example>
    /// <code>
    /// ITransformer model = pipeline.Fit(trainData);
    /// long bytes = ml.Model.SaveAtomic(model, trainData.Schema, "model.zip"); // a crash never leaves half a model.zip
    /// </code>
    /// </example>
    public static long SaveAtomic(this ModelOperationsCatalog catalog, ITransformer model, DataViewSchema? inputSchema, string filePath)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(filePath);
        return AtomicFile.Write(filePath, stream => catalog.Save(model, inputSchema, stream));
    }

    /// <summary>
    /// When <paramref name="error"/> came from loading <paramref name="filePath"/> on a context without
    /// <see cref="AddMLNetSlim"/> and the zip holds an MLNetSlim transformer: an exception saying which call to add,
    /// with <paramref name="error"/> inside. Otherwise null. Use it in a catch around <c>mlContext.Model.Load</c>.
    /// </summary>
    /// <param name="mlContext">The context used to load.</param>
    /// <param name="filePath">The zip.</param>
    /// <param name="error">What ML.NET threw.</param>
    /// <returns>The explaining exception, or null.</returns>
    /// <example>
    /// <code>
    /// try { model = ml.Model.Load(path, out _); }
    /// catch (Exception e) when (ml.ExplainLoadFailure(path, e) is Exception better) { throw better; }
    /// </code>
    /// </example>
    public static Exception? ExplainLoadFailure(this MLContext mlContext, string filePath, Exception error)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        return Explain(mlContext, filePath, error);
    }

    /// <summary>
    /// The <see cref="ControllableMultiTaskTransformer"/> of a fitted or loaded model: <paramref name="model"/> itself,
    /// or the one inside its transformer chain (nested chains included). Use it to set the budget and task weights of a
    /// model read with <c>mlContext.Model.Load</c>.
    /// </summary>
    /// <param name="model">A fitted or loaded model.</param>
    /// <returns>The model's only controllable multi-task transformer.</returns>
    /// <exception cref="InvalidOperationException">The model holds none, or more than one (the message says which).</exception>
    /// <example>
    /// <code>
    /// ITransformer model = ml.Model.LoadChecked("model.zip", out _);
    /// ControllableMultiTaskTransformer slim = model.GetControllableMultiTaskTransformer();
    /// slim.SetControl(Budget.FractionOfFull(0.5), new Dictionary&lt;string, double&gt; { ["digit"] = 0.8, ["fashion"] = 0.2 });
    /// </code>
    /// </example>
    public static ControllableMultiTaskTransformer GetControllableMultiTaskTransformer(this ITransformer model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var found = new List<ControllableMultiTaskTransformer>();
        void Collect(ITransformer t)
        {
            if (t is ControllableMultiTaskTransformer c) found.Add(c);
            else if (t is IEnumerable<ITransformer> chain) foreach (ITransformer inner in chain) Collect(inner);
        }
        Collect(model);
        return found.Count switch
        {
            1 => found[0],
            0 => throw new InvalidOperationException(
                $"The model ({model.GetType().Name}) holds no MLNetSlim ControllableMultiTaskTransformer; it is not an MLNetSlim model."),
            _ => throw new InvalidOperationException(
                $"The model holds {found.Count} ControllableMultiTaskTransformers; take the one you mean from its chain."),
        };
    }

    private static Exception? Explain(IHostEnvironment env, string filePath, Exception error)
    {
        if (MLNetInternals.IsRegistered(env) || !ZipHoldsMLNetSlim(filePath)) return null;
        return new InvalidOperationException(
            $"'{filePath}' holds an MLNetSlim controllable multi-task transformer, and this MLContext cannot load it: " +
            "call mlContext.AddMLNetSlim() (namespace MLNetSlim.MLNet) on the MLContext before mlContext.Model.Load.", error);
    }

    private static bool ZipHoldsMLNetSlim(string filePath)
    {
        try
        {
            using System.IO.Compression.ZipArchive zip = System.IO.Compression.ZipFile.OpenRead(filePath);
            return zip.Entries.Any(e => e.Name == "MultiTaskModel.bin");
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    internal static void Register(IHostEnvironment env)
    {
        MLNetInternals.RegisterLoader(env, ControllableMultiTaskTransformer.Format, typeof(ControllableMultiTaskTransformer),
            ControllableMultiTaskTransformer.CreateMethod);
        MLNetInternals.RegisterLoader(env, LabelMapLoader.Format, typeof(LabelMapLoader), LabelMapLoader.CreateMethod);
    }

    /// <summary>
    /// Loads per-pixel label maps (class-index, edge or mask PNGs at 8 bits, depth PNGs at 16 bits) from image files into
    /// a label-map column for a per-pixel task: a Vector&lt;Single, H*W&gt; (dimensions (H, W)) holding each pixel's
    /// stored integer exactly (0-255 or 0-65535; no scaling, no colour conversion). ML.NET's <c>LoadImages</c> decodes
    /// to 8 bits per channel and would truncate 16-bit depth, so label maps go through this transform. Supported files:
    /// grayscale PNG (colour type 0), 8 or 16 bits, non-interlaced (docs/mlnet-integration.md). The transform is saved
    /// with the model (<c>mlContext.AddMLNetSlim()</c> registers its loader).
    /// </summary>
    /// <param name="catalog"><c>mlContext.Transforms</c>.</param>
    /// <param name="outputColumnName">The label-map column to add (e.g. the task's name).</param>
    /// <param name="imageFolder">Folder the paths are relative to; null or empty: the paths are used as they are.</param>
    /// <param name="height">H, the image height in pixels: every label map must have it.</param>
    /// <param name="width">W, the image width in pixels.</param>
    /// <param name="inputColumnName">The text column holding each row's file path; defaults to <paramref name="outputColumnName"/>.</param>
    /// <returns>The estimator (its <c>Fit</c> checks the input column only).</returns>
    /// <exception cref="ArgumentException">An empty column name, or a non-positive size.</exception>
    /// <remarks>Reading a row throws <see cref="InvalidOperationException"/> naming the row and the column when its map's
    /// size differs from (<paramref name="height"/>, <paramref name="width"/>) (both sizes in the message), and
    /// <see cref="InvalidDataException"/> naming the file when it is not a supported PNG.</remarks>
    public static IEstimator<ITransformer> LoadLabelMaps(this TransformsCatalog catalog, string outputColumnName, string? imageFolder,
        int height, int width, string? inputColumnName = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        IHostEnvironment env = MLNetInternals.EnvironmentOf(catalog);
        Register(env);
        return new LabelMapLoader(outputColumnName, inputColumnName ?? outputColumnName, imageFolder ?? "", height, width);
    }
}
