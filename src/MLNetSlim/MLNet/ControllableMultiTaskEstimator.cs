using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetSlim.Data;
using MLNetSlim.Serving;
using MLNetSlim.Training;
using MLNetSlim.Architecture;
using MLNetSlim.Model;

namespace MLNetSlim.MLNet;

/// <summary>
/// Trains a controllable slimmable multi-task network (ECMT, ICCV 2023) on an image column and one key-typed label
/// column per task, or wraps an existing model (<c>mlContext.Transforms.ApplyControllableMultiTaskModel</c>).
/// <c>Fit</c> returns a <see cref="ControllableMultiTaskTransformer"/>.
/// </summary>
/// <remarks>
/// Labels must be key types; numeric or text labels are rejected with a message that names the
/// <c>MapValueToKey</c> call to add (keys carry the class count and names, which the output columns reuse).
/// Progress goes to the MLContext's <c>Log</c> event (channel "ControllableMultiTask", kind Info) and to
/// <see cref="Options.Progress"/>.
/// </remarks>
public sealed partial class ControllableMultiTaskEstimator : IEstimator<ControllableMultiTaskTransformer>
{
    private readonly IHostEnvironment? _env;
    private readonly Options? _options;
    private readonly MultiTaskModelTrainer? _trainer;
    private readonly IMultiTaskModel? _model;
    private readonly string _featureColumnName;

    /// <summary>Creates a training estimator. Prefer <c>mlContext.MulticlassClassification.Trainers.ControllableMultiTask(options)</c>.</summary>
    /// <param name="mlContext">Receives log messages; MLNetSlim's model loader is registered on it.</param>
    /// <param name="options">Training options (copied).</param>
    /// <param name="trainer">The trainer; the built-in trainer (sandwich rule + CI-KD, then calibration) when null.</param>
    /// <exception cref="ArgumentException">Invalid options (the message names the option).</exception>
    public ControllableMultiTaskEstimator(MLContext mlContext, Options options, MultiTaskModelTrainer? trainer = null)
        : this((IHostEnvironment)mlContext, options, trainer)
    {
    }

    internal ControllableMultiTaskEstimator(IHostEnvironment env, Options options, MultiTaskModelTrainer? trainer)
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _env = env;
        _options = options.Clone();
        _options.ValidationData = options.ValidationData;
        _options.Progress = options.Progress;
        _options.CancellationToken = options.CancellationToken;
        _options.BackboneOverride = options.BackboneOverride;
        _options.PostStatisticsImages = options.PostStatisticsImages;
        _trainer = trainer;
        _featureColumnName = options.FeatureColumnName;
        MLNetSlimCatalog.Register(env);
    }

    internal ControllableMultiTaskEstimator(IHostEnvironment? env, IMultiTaskModel model, string featureColumnName)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(featureColumnName);
        _env = env;
        _model = model;
        _featureColumnName = featureColumnName;
        if (env is not null) MLNetSlimCatalog.Register(env);
    }

    /// <summary>
    /// Trains (or, for a wrapped model, only checks the schema) and returns the transformer.
    /// </summary>
    /// <param name="input">Rows with the features column (Vector&lt;Single, C*H*W&gt;) and, when training, every task's
    /// label column: key-typed for classification, a label-map Vector&lt;Single, L*H*W&gt; for a per-pixel task.</param>
    /// <exception cref="ArgumentOutOfRangeException">A column is missing or of the wrong type or size; the message
    /// names the column, the expected and the actual type.</exception>
    /// <exception cref="InvalidOperationException">A row has a NaN or infinite feature or a bad label-map value (the
    /// message gives the row, 0-based, the column and the value; see <see cref="Options.SkipNonFiniteRows"/>), a
    /// classification task has no labelled row (a missing key label in some rows only is allowed), there are no rows,
    /// or no trainer is wired in.</exception>
    /// <exception cref="TrainingDivergedException">A training loss became NaN or infinite.</exception>
    /// <exception cref="OperationCanceledException"><see cref="Options.CancellationToken"/> was cancelled.</exception>
    public ControllableMultiTaskTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (_model is not null)
        {
            var wrapped = new ControllableMultiTaskTransformer(_model, _featureColumnName);
            wrapped.GetOutputSchema(input.Schema);
            return wrapped;
        }
        Options o = _options!;
        SchemaChecks.FeatureColumn(input.Schema, o.FeatureColumnName, o.ImageChannels, o.ImageHeight, o.ImageWidth, nameof(input));
        // Before the label checks: on empty data MapValueToKey builds a one-value key, which would read as "1 class".
        if (!DataViewConversion.HasRows(input)) throw new InvalidOperationException("The training data has no rows.");
        TaskDefinition[] tasks = DataViewConversion.ResolveTasks(input.Schema, o);
        MultiTaskModelTrainer trainer = _trainer ?? BuiltInTrainer.Train;

        using IChannel ch = _env!.Start("ControllableMultiTask");
        var progress = new Relay(ch, o.Progress);
        // mlContext.CancelExecution(): checked before every batch (so within one optimiser step) and polled for the
        // parts between batches (reading, calibration).
        Func<bool> envCanceled = MLNetInternals.CancellationProbe(_env);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(o.CancellationToken);
        using var poll = new Timer(_ => { if (envCanceled()) cancel.Cancel(); }, null, 50, 50);
        CancellationToken token = cancel.Token;
        token.ThrowIfCancellationRequested();
        string device = ResolveDevice(_env, o.Device, progress);

        Options copy = o.Clone();
        for (int t = 0; t < tasks.Length; t++)
        {
            copy.Tasks[t].NumClasses = tasks[t].NumClasses;
            copy.Tasks[t].ClassNames = tasks[t].ClassNames.ToArray();
        }
        copy.Device = device;
        copy.Progress = o.Progress;
        copy.CancellationToken = token;
        copy.BackboneOverride = o.BackboneOverride;
        copy.PostStatisticsImages = o.PostStatisticsImages;

        progress.Info($"Reading training data: column '{o.FeatureColumnName}' as ({o.ImageChannels}, {o.ImageHeight}, {o.ImageWidth}) images, tasks [{string.Join(", ", tasks.Select(t => t.IsPerPixel ? $"{t.Name}: {t.Kind}" + (t.Kind == TaskKind.Segmentation ? $", {t.NumClasses} classes" : "") : $"{t.Name}: {t.NumClasses} classes"))}].");
        IMultiTaskModel model;
        long limit = (long)o.InMemoryCacheLimitMB << 20;
        long rows = _trainer is null ? DataViewBatches.CountRows(input, input.Schema[o.Tasks[0].EffectiveLabelColumnName]) : -1;
        if (_trainer is null && rows * o.RowBytes(tasks) > limit)
        {
            model = FitStreaming(input, o, copy, tasks, rows, limit, progress, envCanceled, token);
        }
        else
        {
            MultiTaskDataset train = DataViewConversion.Read(input, o, tasks, token, out long skipped);
            if (skipped > 0) progress.Info($"Skipped {skipped} training rows with a NaN or infinite feature (Options.SkipNonFiniteRows).");
            MultiTaskDataset? validation = null;
            if (o.ValidationData is not null)
            {
                CheckValidationData(o, tasks);
                validation = DataViewConversion.Read(o.ValidationData, o, tasks, token, out long skippedValidation);
                if (skippedValidation > 0) progress.Info($"Skipped {skippedValidation} validation rows with a NaN or infinite feature (Options.SkipNonFiniteRows).");
            }
            else if (o.ValidationFraction > 0 && train.Count >= 2)
            {
                (train, validation) = train.Split(o.ValidationFraction, o.Seed ?? 0);
            }
            progress.Info(validation is not null
                ? $"Training on {train.Count} images, {validation.Count} held out for calibration; {o.Epochs} epochs on {device}."
                : $"Training on {train.Count} images, none held out (Options.ValidationFraction = 0): the built-in trainer measures the calibration table on the training images; {o.Epochs} epochs on {device}.");
            model = _trainer is null
                ? BuiltInTrainer.Train(new CancellableBatches(new InMemoryBatches(train), envCanceled),
                    validation is null ? null : new InMemoryBatches(validation), copy, progress, token)
                : _trainer(train, validation, copy, progress, token)
                    ?? throw new InvalidOperationException("The multi-task trainer returned no model.");
        }
        progress.Info($"Trained: full network {model.Costs.FullMacs} MACs per image.");
        return new ControllableMultiTaskTransformer(model, o.FeatureColumnName, null, null, copy);
    }

    /// <summary>The built-in trainer on batches streamed from <paramref name="input"/> (data above
    /// <see cref="Options.InMemoryCacheLimitMB"/>). The held-out rows of <see cref="Options.ValidationFraction"/> are
    /// the same rows the in-memory split picks (a seeded permutation of the row positions); held-out or validation data
    /// are cached when they fit under the limit, else streamed too.</summary>
    private static IMultiTaskModel FitStreaming(IDataView input, Options o, Options copy, TaskDefinition[] tasks, long rows, long limit,
        Relay progress, Func<bool> envCanceled, CancellationToken token)
    {
        if (rows == 0) throw new InvalidOperationException("The training data has no rows.");
        if (rows > int.MaxValue) throw new InvalidOperationException($"The training data has {rows} rows; at most {int.MaxValue} are supported.");
        DataViewConversion.CheckLabelledRows(input, o, tasks);
        int count = (int)rows;
        IMultiTaskBatches? validation = null;
        bool[]? heldOut = null;
        int trainCount = count;
        if (o.ValidationData is not null)
        {
            CheckValidationData(o, tasks);
            long vRows = DataViewBatches.CountRows(o.ValidationData, o.ValidationData.Schema[o.Tasks[0].EffectiveLabelColumnName]);
            if (vRows * o.RowBytes(tasks) > limit) DataViewConversion.CheckLabelledRows(o.ValidationData, o, tasks); // (Read checks the cached case)
            validation = vRows * o.RowBytes(tasks) <= limit
                ? new InMemoryBatches(DataViewConversion.Read(o.ValidationData, o, tasks, token, out _))
                : new DataViewBatches(o.ValidationData, o, tasks, (int)Math.Min(vRows, int.MaxValue), 1, argument: "Options.ValidationData");
        }
        else if (o.ValidationFraction > 0 && count >= 2)
        {
            int[] order = Enumerable.Range(0, count).ToArray();
            new Random(o.Seed ?? 0).Shuffle(order); // as MultiTaskDataset.Split
            int h = Math.Max(1, (int)Math.Round(o.ValidationFraction * count));
            heldOut = new bool[count];
            foreach (int i in order.AsSpan(0, h)) heldOut[i] = true;
            var streamed = new DataViewBatches(input, o, tasks, h, 1, heldOut, includeValue: true);
            validation = h * o.RowBytes(tasks) <= limit ? new InMemoryBatches(InMemoryBatches.Collect(streamed, token)) : streamed;
            trainCount = count - h;
        }
        int buffer = o.EffectiveShuffleBufferRows(trainCount, o.RowBytes(tasks));
        var train = new DataViewBatches(input, o, tasks, trainCount, buffer, heldOut, includeValue: false);
        progress.Info($"Streaming {trainCount} training images from the IDataView ({rows * o.RowBytes(tasks) >> 20} MB > Options.InMemoryCacheLimitMB = {o.InMemoryCacheLimitMB}): " +
            $"shuffle buffer {buffer} rows, {DataViewBatches.PrefetchBatches} batches read ahead; " +
            (validation is null ? "none held out, the calibration table is measured on the training images" : $"{validation.Count} images for calibration ({(validation is InMemoryBatches ? "cached" : "streamed")})") +
            $"; {o.Epochs} epochs on {copy.Device}.");
        return BuiltInTrainer.Train(new CancellableBatches(train, envCanceled), validation, copy, progress, token);
    }

    private static void CheckValidationData(Options o, TaskDefinition[] tasks)
    {
        SchemaChecks.FeatureColumn(o.ValidationData!.Schema, o.FeatureColumnName, o.ImageChannels, o.ImageHeight, o.ImageWidth, "Options.ValidationData");
        TaskDefinition[] vt = DataViewConversion.ResolveTasks(o.ValidationData.Schema, o);
        for (int t = 0; t < tasks.Length; t++)
            if (vt[t].NumClasses != tasks[t].NumClasses)
                throw new ArgumentOutOfRangeException("Options.ValidationData",
                    $"Task '{tasks[t].Name}' has {tasks[t].NumClasses} classes in the training data but {vt[t].NumClasses} in the validation data; build the keys once (fit MapValueToKey on the training data) and apply them to both.");
    }

    /// <summary>
    /// The training device: <see cref="Options.Device"/> when set; else the MLContext's <c>GpuDeviceId</c> N as
    /// "cuda:N" when CUDA is available, the CPU (with a log line) when it is not and <c>FallbackToCpu</c> is true, an
    /// <see cref="InvalidOperationException"/> when it is not and <c>FallbackToCpu</c> is false; "cpu" without a
    /// GpuDeviceId.
    /// </summary>
    internal static string ResolveDevice(IHostEnvironment env, string? device, Relay? progress, Func<bool>? cudaAvailable = null)
    {
        if (!string.IsNullOrWhiteSpace(device)) return device.Trim().ToLowerInvariant();
        (int? gpu, bool fallback) = MLNetInternals.GpuSettings(env);
        if (gpu is not int id) return "cpu";
        if ((cudaAvailable ?? (() => TorchSharp.torch.cuda.is_available()))()) return $"cuda:{id}";
        if (!fallback)
            throw new InvalidOperationException(
                $"mlContext.GpuDeviceId = {id} asks for the GPU but CUDA is not available (TorchSharp's CPU backend, or no NVIDIA driver) and mlContext.FallbackToCpu is false. " +
                "Set mlContext.FallbackToCpu = true to train on the CPU, set Options.Device = \"cpu\", or build with -p:TorchBackend=cuda on a machine with an NVIDIA GPU.");
        progress?.Info($"mlContext.GpuDeviceId = {id} but CUDA is not available; training on the CPU (mlContext.FallbackToCpu = true).");
        return "cpu";
    }

    /// <summary>Checks the MLContext's cancellation before every batch, so <c>mlContext.CancelExecution()</c> stops
    /// training within one optimiser step.</summary>
    private sealed class CancellableBatches(IMultiTaskBatches inner, Func<bool> canceled) : IMultiTaskBatches
    {
        public int Channels => inner.Channels;

        public int Height => inner.Height;

        public int Width => inner.Width;

        public IReadOnlyList<TaskDefinition> Tasks => inner.Tasks;

        public int Count => inner.Count;

        public IEnumerable<HostBatch> Batches(int batchSize, Random? shuffle, bool dropLast, int take = int.MaxValue)
        {
            foreach (HostBatch b in inner.Batches(batchSize, shuffle, dropLast, take))
            {
                if (canceled()) throw new OperationCanceledException("Training was cancelled: mlContext.CancelExecution() was called.");
                yield return b;
            }
        }
    }

    /// <summary>The schema shape after <c>Fit(...).Transform</c>: the input columns plus, per task, <c>Score.T</c>
    /// (known-size vector of Single: K probabilities with SlotNames for classification, a (C, H, W) map for a
    /// per-pixel task) and <c>PredictedLabel.T</c> (classification: UInt32 key with KeyValues; segmentation:
    /// Vector&lt;UInt32, H*W&gt; of 0-based class indices; none for the other per-pixel kinds).</summary>
    /// <param name="inputSchema">Input shape.</param>
    /// <exception cref="ArgumentOutOfRangeException">The features column is missing or not a known-size vector of
    /// Single, or (training) a label column is missing or not a key.</exception>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        IReadOnlyList<TaskDefinition> tasks;
        if (_model is not null)
        {
            SchemaChecks.FeatureShape(inputSchema, _featureColumnName, _model.Channels * _model.Height * _model.Width, nameof(inputSchema));
            tasks = _model.Tasks;
        }
        else
        {
            Options o = _options!;
            SchemaChecks.FeatureShape(inputSchema, o.FeatureColumnName, o.ImageSize, nameof(inputSchema));
            foreach (TaskColumn t in o.Tasks)
                if (t.Kind == TaskKind.Classification) SchemaChecks.LabelShape(inputSchema, t.Name, t.EffectiveLabelColumnName, nameof(inputSchema));
                else SchemaChecks.LabelMapShape(inputSchema, t.Name, t.EffectiveLabelColumnName, nameof(inputSchema));
            // The shape carries no sizes: two classes stand in for an unknown count.
            tasks = o.Tasks.Select(t => TaskDefinition.ChannelsOf(t.Kind) is int c
                ? new TaskDefinition(t.Name, t.Kind, c)
                : new TaskDefinition(t.Name, t.Kind, t.NumClasses ?? 2, t.ClassNames)).ToArray();
        }
        var b = new DataViewSchema.Builder();
        OutputColumns.Add(b, tasks, _model?.Height ?? _options!.ImageHeight, _model?.Width ?? _options!.ImageWidth);
        var added = MLNetInternals.ToShape(b.ToSchema());
        var names = added.Select(c => c.Name).ToHashSet();
        return new SchemaShape(inputSchema.Where(c => !names.Contains(c.Name)).Concat(added));
    }

    /// <summary>Forwards progress to the MLContext log channel and to the user's progress sink.</summary>
    internal sealed class Relay : IProgress<TrainingProgress>
    {
        private readonly IChannel _channel;
        private readonly IProgress<TrainingProgress>? _user;

        public Relay(IChannel channel, IProgress<TrainingProgress>? user)
        {
            _channel = channel;
            _user = user;
        }

        public void Report(TrainingProgress value)
        {
            Info(value.ToString());
            _user?.Report(value);
        }

        public void Info(string message) =>
            _channel.Info(MessageSensitivity.None, message.Replace("{", "{{", StringComparison.Ordinal).Replace("}", "}}", StringComparison.Ordinal));
    }
}
