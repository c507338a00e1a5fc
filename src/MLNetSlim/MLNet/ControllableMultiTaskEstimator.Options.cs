using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.ML;

using MLNetSlim.Training;
using MLNetSlim.Architecture;
using MLNetSlim.Data;

namespace MLNetSlim.MLNet;

/// <summary>The shared encoder of the multi-task network.</summary>
public enum MultiTaskBackbone
{
    /// <summary>A small slimmable conv net (four conv stages); fast on CPU, for small images such as 28x28 or 32x32.</summary>
    SmallConvNet = 0,

    /// <summary>A slimmable ResNet; for larger images and GPUs.</summary>
    ResNet = 1,
}

public sealed partial class ControllableMultiTaskEstimator
{
    /// <summary>One task: a decoder trained on one label column. Classification (the default <see cref="Kind"/>):
    /// a key-typed label column. Per-pixel kinds: a label-map column, a known-size Vector&lt;Single&gt; of L*H*W values
    /// in (L, H, W) order at the image's H and W (L = 3 for normals, else 1; segmentation maps hold class indices as
    /// floats); see docs/mlnet-integration.md.</summary>
    public sealed class TaskColumn
    {
        /// <summary>What the task predicts; <see cref="TaskKind.Classification"/> by default.</summary>
        public TaskKind Kind { get; set; } = TaskKind.Classification;

        /// <summary>Label value of pixels to ignore in the loss and the metrics (per-pixel kinds; e.g. 255 for
        /// segmentation, 0 for "no depth measured"), or null for none; see <see cref="TaskDefinition.IgnoreValue"/>.
        /// Not allowed for classification.</summary>
        public double? IgnoreValue { get; set; }

        /// <summary>Unique task name; output columns are <c>Score.&lt;Name&gt;</c> and <c>PredictedLabel.&lt;Name&gt;</c>.</summary>
        public string Name { get; set; } = "";

        /// <summary>The label column: a key type (add <c>mlContext.Transforms.Conversion.MapValueToKey("col")</c>
        /// for raw labels). Defaults to <see cref="Name"/> when empty.</summary>
        public string LabelColumnName { get; set; } = "";

        /// <summary>Number of classes K. Classification: null to take the key type's count; when set it must equal that
        /// count. Segmentation: required (a label-map vector carries no class count). Other per-pixel kinds: leave null
        /// (their channel count is fixed by the kind).</summary>
        public int? NumClasses { get; set; }

        /// <summary>Class names (length K); null to take the label column's KeyValues annotation, or "0".."K-1".</summary>
        public IReadOnlyList<string>? ClassNames { get; set; }

        /// <summary>The label column actually used.</summary>
        [JsonIgnore]
        public string EffectiveLabelColumnName => string.IsNullOrEmpty(LabelColumnName) ? Name : LabelColumnName;

        /// <summary>Creates an empty task; set <see cref="Name"/>.</summary>
        public TaskColumn() { }

        /// <summary>Creates a task.</summary>
        /// <param name="name">Task name.</param>
        /// <param name="labelColumnName">Key-typed label column; defaults to <paramref name="name"/>.</param>
        public TaskColumn(string name, string? labelColumnName = null)
        {
            Name = name;
            LabelColumnName = labelColumnName ?? name;
        }
    }

    /// <summary>Options of <see cref="ControllableMultiTaskEstimator"/>. Everything except <see cref="ValidationData"/>,
    /// <see cref="Progress"/> and <see cref="CancellationToken"/> is saved with the model.</summary>
    public sealed class Options
    {
        /// <summary>The tasks, one decoder each, in decoder order. At least one.</summary>
        public List<TaskColumn> Tasks { get; set; } = new();

        /// <summary>The image column: a known-size vector of Single of length C*H*W, the image in (C, H, W) order,
        /// values typically in [0, 1].</summary>
        public string FeatureColumnName { get; set; } = "Features";

        /// <summary>The optional per-row budget column read by the trained transformer: Single, a fraction of the full
        /// network's MACs in (0, 1]. When the input to the transformer has it, each row runs at its own budget;
        /// otherwise the transformer's control applies. Default "Budget"; null or empty turns it off. Not used for
        /// training.</summary>
        public string? BudgetColumnName { get; set; } = ControllableMultiTaskTransformer.DefaultBudgetColumnName;

        /// <summary>The optional per-row task weights column read by the trained transformer: Vector&lt;Single&gt;, one
        /// non-negative weight per task in task order (an empty vector = the transformer's weights). Default
        /// "TaskWeights"; null or empty turns it off. Not used for training.</summary>
        public string? TaskWeightsColumnName { get; set; } = ControllableMultiTaskTransformer.DefaultTaskWeightsColumnName;

        /// <summary>Image channels C (1 grey, 3 RGB).</summary>
        public int ImageChannels { get; set; } = 1;

        /// <summary>Image height H, pixels.</summary>
        public int ImageHeight { get; set; } = 28;

        /// <summary>Image width W, pixels.</summary>
        public int ImageWidth { get; set; } = 28;

        /// <summary>The shared encoder.</summary>
        public MultiTaskBackbone Backbone { get; set; } = MultiTaskBackbone.SmallConvNet;

        /// <summary>Width multipliers the network can run at (the encoder's, and the decoders' when
        /// <see cref="DecoderWidths"/> is null); distinct, in (0, 1], containing 1.0.</summary>
        public double[] Widths { get; set; } = { 0.25, 0.5, 0.75, 1.0 };

        /// <summary>
        /// Width multipliers of the task decoders, or null (default) for <see cref="Widths"/>. A decoder set finer than
        /// the encoder's gives the task-weight control more distinct trade-offs per budget: with 2 tasks and the
        /// default encoder widths, 0.125 to 1 in steps of 1/32 (29 values, what the main job uses) gives 8-21
        /// budget-filling decoder pairs at 30-70 % of full MACs where the default gives 1-3 (docs/control.md, section 5).
        /// Costs grow linearly with
        /// its size: #encoder options x #decoder widths batch-norm contexts per decoder layer and calibration passes;
        /// a serving bundle with every configuration holds #encoder options x #decoder widths^#tasks ONNX graphs.
        /// Distinct, in (0, 1], containing 1.0, at most <see cref="MaxDecoderWidths"/> values.
        /// </summary>
        public double[]? DecoderWidths { get; set; }

        /// <summary>The largest number of <see cref="DecoderWidths"/> values (64).</summary>
        public const int MaxDecoderWidths = 64;

        /// <summary>Full-width output channels of each backbone stage, e.g. [16, 32, 64] for a cheaper small conv net;
        /// null (default) keeps the backbone's own ([32, 64, 128] for both backbones). Same number of stages as the
        /// backbone has.</summary>
        public int[]? StageChannels { get; set; }

        /// <summary>Channels D of the per-pixel decoders' feature pyramid at full decoder width (FPN-lite head,
        /// docs/method.md); default 64. Not used when every task is a classification task.</summary>
        public int PyramidChannels { get; set; } = 64;

        /// <summary>Training epochs (passes over the training data).</summary>
        public int Epochs { get; set; } = 3;

        /// <summary>Images per optimiser step; at least 2 (batch norm needs two images to estimate statistics).</summary>
        public int BatchSize { get; set; } = 128;

        /// <summary>
        /// True (default): each epoch's last batch, when smaller than <see cref="BatchSize"/>, is skipped; false: it is
        /// trained on too (unless it has one row: batch norm needs two). Fewer training rows than BatchSize train with one
        /// batch of all rows (at least 2 rows are needed).
        /// </summary>
        public bool DropLastPartialBatch { get; set; } = true;

        /// <summary>Training progress (to <see cref="Progress"/> and the MLContext log) every this many steps, and at each epoch end.</summary>
        public int ProgressEverySteps { get; set; } = 50;

        /// <summary>Peak learning rate of the optimiser.</summary>
        public double LearningRate { get; set; } = 2e-3;

        /// <summary>Sandwich rule: random configurations sampled per step besides the largest and the smallest (k); see <see cref="Training.TrainingOptions.SandwichRandomCount"/>.</summary>
        public int SandwichRandomCount { get; set; } = 1;

        /// <summary>Random configurations added to <see cref="SandwichRandomCount"/> at every step of the last epoch
        /// (default 1; 0 disables it); see <see cref="Training.TrainingOptions.SandwichFinalEpochExtraCount"/>.</summary>
        public int SandwichFinalEpochExtraCount { get; set; } = 1;

        /// <summary>Weight lambda of the configuration-invariant knowledge distillation (CI-KD) loss; 0 disables it.</summary>
        public double DistillationWeight { get; set; } = 1.0;

        /// <summary>Random seed of training and of the validation split; null lets the trainer choose (the split then uses 0).</summary>
        public int? Seed { get; set; }

        /// <summary>Torch device: "cpu", "cuda" or "cuda:N"; null (default) follows the MLContext: <c>cuda:N</c> when
        /// <c>mlContext.GpuDeviceId</c> = N is set (when CUDA is not available: the CPU with a log line if
        /// <c>mlContext.FallbackToCpu</c>, else an error), otherwise "cpu".</summary>
        public string? Device { get; set; }

        /// <summary>Fit copies the training data into memory (one float array, the fastest path) when its images and
        /// labels take at most this many megabytes (2^20 bytes), counting the rows first when the IDataView does not know
        /// its row count; larger data are streamed batch by batch from IDataView cursors (a shuffle buffer of
        /// <see cref="ShuffleBufferRows"/> rows, <c>DataViewBatches.PrefetchBatches</c> = 2 batches read ahead), so
        /// memory no longer grows with the row count. 0 always streams. Default 1024. The same limit decides whether
        /// validation data are cached or streamed. Only the built-in trainer streams; a custom
        /// <see cref="MultiTaskModelTrainer"/> receives in-memory data sets.</summary>
        public int InMemoryCacheLimitMB { get; set; } = 1024;

        /// <summary>Rows in the shuffle buffer when training streams (see <see cref="InMemoryCacheLimitMB"/>): each epoch
        /// reads the rows in source order; the first fill the buffer, then each row read replaces a randomly drawn
        /// buffered row (seeded by <see cref="Seed"/>), which goes to the next batch. 0 (default): as many rows as fit in
        /// 256 MB, or in a quarter of <see cref="InMemoryCacheLimitMB"/> when that is smaller (the memory granted to
        /// data), at least <see cref="BatchSize"/> and at most 10,000 (e.g. 435 rows of 3x224x224 floats, 10,000 of
        /// 28x28). The buffer is allocated once and reused by every epoch; a row moves at most about the buffer size away
        /// from its source position, so data sorted by class should be shuffled once at the source (or given a buffer as
        /// large as the data). Memory measured with it: docs/benchmarks.md, "streaming".</summary>
        public int ShuffleBufferRows { get; set; }

        /// <summary>Fraction of the training rows held out to measure the calibration table when
        /// <see cref="ValidationData"/> is null, in [0, 1). Default 0.1. 0 holds out nothing: the trainer receives no
        /// validation data, and the built-in trainer then measures the calibration table on the training rows themselves
        /// (every row trains; the table's accuracies are optimistic, so the search ranks configurations by how well they
        /// fit the training data). See docs/mlnet-integration.md.</summary>
        public double ValidationFraction { get; set; } = 0.1;

        /// <summary>Stop training after this many epochs in a row without improvement of the per-epoch validation
        /// metrics (each task's primary metric at the full configuration on <see cref="ValidationData"/> or the held-out
        /// <see cref="ValidationFraction"/>; an epoch improves when any task beats its best so far by more than
        /// <see cref="EarlyStoppingMinDelta"/>); the last epoch's weights are kept. 0 (default): train every epoch.
        /// Needs validation data. See <see cref="TrainingOptions.EarlyStoppingPatience"/>.</summary>
        public int EarlyStoppingPatience { get; set; }

        /// <summary>Least improvement of a task's validation metric, in the metric's units, for
        /// <see cref="EarlyStoppingPatience"/>. Default 0.</summary>
        public double EarlyStoppingMinDelta { get; set; }

        /// <summary>
        /// Whether the fitted transformer runs its forward passes through ONNX Runtime (default true): each width
        /// configuration the control picks is exported once (weights sliced, batch norm folded) and cached as an ONNX
        /// Runtime session; scores equal the TorchSharp forward's within float rounding (parity tests: 1e-4), several
        /// times faster at batch 1 (docs/benchmarks/inference.md). Used where ONNX Runtime's native library loads (the
        /// application references <c>Microsoft.ML.OnnxRuntime</c>), the model runs on the CPU and the network exports;
        /// otherwise the transformer falls back to TorchSharp and <see cref="ControllableMultiTaskTransformer.InferencePath"/>
        /// says why. False always uses TorchSharp. Training is unaffected. Saved with the options, so a loaded
        /// transformer starts with the value it was trained with; set
        /// <see cref="ControllableMultiTaskTransformer.UseOnnxRuntime"/> to change it at run time.
        /// </summary>
        public bool UseOnnxRuntime { get; set; } = true;

        /// <summary>Rows whose features hold a NaN or infinite value: false (default) makes <c>Fit</c> throw an
        /// <see cref="InvalidOperationException"/> naming the row, the column and the value; true skips them and
        /// reports how many in the MLContext log (and fails only when no row is left).</summary>
        public bool SkipNonFiniteRows { get; set; }

        /// <summary>Training checkpoint file, written every <see cref="CheckpointEverySteps"/> steps crash-safely and read
        /// by <see cref="ResumeFromCheckpoint"/>; null: none. See <see cref="TrainingOptions.CheckpointPath"/>.</summary>
        public string? CheckpointPath { get; set; }

        /// <summary>Write a checkpoint every this many optimiser steps; 0 (default): none.</summary>
        public int CheckpointEverySteps { get; set; }

        /// <summary>Continue an interrupted <c>Fit</c> from <see cref="CheckpointPath"/> when it exists (same data and
        /// options): the result equals an uninterrupted run's.</summary>
        public bool ResumeFromCheckpoint { get; set; }

        /// <summary>Held-out data (same columns as the training data) for calibration; overrides
        /// <see cref="ValidationFraction"/>. Not saved.</summary>
        [JsonIgnore]
        public IDataView? ValidationData { get; set; }

        /// <summary>Receives training progress besides the MLContext log. Not saved.</summary>
        [JsonIgnore]
        public IProgress<TrainingProgress>? Progress { get; set; }

        /// <summary>Cancels <c>Fit</c>. Not saved.</summary>
        [JsonIgnore]
        public CancellationToken CancellationToken { get; set; }

        /// <summary>Checks every option.</summary>
        /// <exception cref="ArgumentException">Names the first bad option and its value.</exception>
        public void Validate()
        {
            if (Tasks is null || Tasks.Count == 0) throw new ArgumentException("Options.Tasks needs at least one task.", nameof(Tasks));
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (TaskColumn t in Tasks)
            {
                if (t is null || string.IsNullOrWhiteSpace(t.Name)) throw new ArgumentException("Every task in Options.Tasks needs a Name.", nameof(Tasks));
                if (!seen.Add(t.Name)) throw new ArgumentException($"Task name '{t.Name}' appears twice in Options.Tasks.", nameof(Tasks));
                if (!Enum.IsDefined(t.Kind)) throw new ArgumentException($"Task '{t.Name}': Kind = {t.Kind} is not a TaskKind.", nameof(Tasks));
                if (t.NumClasses is < 2) throw new ArgumentException($"Task '{t.Name}': NumClasses must be at least 2, got {t.NumClasses}.", nameof(Tasks));
                if (t.Kind == TaskKind.Segmentation && t.NumClasses is null)
                    throw new ArgumentException($"Task '{t.Name}' (Segmentation): set NumClasses (the number of classes, background included); a label-map column does not carry it.", nameof(Tasks));
                if (TaskDefinition.ChannelsOf(t.Kind) is int fixedChannels && t.NumClasses is int given)
                    throw new ArgumentException($"Task '{t.Name}' ({t.Kind}): NumClasses must be null (the kind has {fixedChannels} output channel(s)), got {given}.", nameof(Tasks));
                if (t.Kind == TaskKind.Classification && t.IgnoreValue is double iv)
                    throw new ArgumentException($"Task '{t.Name}' (Classification): IgnoreValue applies to per-pixel tasks only, got {iv.ToString(System.Globalization.CultureInfo.InvariantCulture)}; a missing classification label is key value 0.", nameof(Tasks));
                if (t.IgnoreValue is double nan && double.IsNaN(nan))
                    throw new ArgumentException($"Task '{t.Name}': IgnoreValue must be a number, got NaN.", nameof(Tasks));
                if (t.ClassNames is not null && t.NumClasses is int k && t.ClassNames.Count != k)
                    throw new ArgumentException($"Task '{t.Name}': {t.ClassNames.Count} class names for NumClasses = {k}.", nameof(Tasks));
            }
            if (string.IsNullOrWhiteSpace(FeatureColumnName)) throw new ArgumentException("Options.FeatureColumnName is empty.", nameof(FeatureColumnName));
            if (ImageChannels <= 0 || ImageHeight <= 0 || ImageWidth <= 0)
                throw new ArgumentException($"Options image shape (C, H, W) = ({ImageChannels}, {ImageHeight}, {ImageWidth}) must be positive.", nameof(ImageChannels));
            ValidateWidths(Widths, nameof(Widths));
            if (DecoderWidths is not null)
            {
                ValidateWidths(DecoderWidths, nameof(DecoderWidths));
                if (DecoderWidths.Length > MaxDecoderWidths)
                    throw new ArgumentException($"Options.DecoderWidths has {DecoderWidths.Length} values; at most {MaxDecoderWidths} are supported " +
                        "(each adds #encoder options batch-norm contexts per decoder layer and calibration passes).", nameof(DecoderWidths));
            }
            if (StageChannels is not null && (StageChannels.Length != 3 || StageChannels.Any(c => c < 1)))
                throw new ArgumentException($"Options.StageChannels must hold 3 positive channel counts (one per backbone stage), got [{string.Join(", ", StageChannels)}].", nameof(StageChannels));
            if (PyramidChannels < 1) throw new ArgumentException($"Options.PyramidChannels must be positive, got {PyramidChannels}.", nameof(PyramidChannels));
            if (Epochs <= 0) throw new ArgumentException($"Options.Epochs must be positive, got {Epochs}.", nameof(Epochs));
            if (BatchSize < 2) throw new ArgumentException($"Options.BatchSize must be at least 2 (batch norm estimates statistics from the images of a batch), got {BatchSize}.", nameof(BatchSize));
            if (ProgressEverySteps <= 0) throw new ArgumentException($"Options.ProgressEverySteps must be positive, got {ProgressEverySteps}.", nameof(ProgressEverySteps));
            if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new ArgumentException($"Options.LearningRate must be positive, got {LearningRate}.", nameof(LearningRate));
            if (SandwichRandomCount < 0) throw new ArgumentException($"Options.SandwichRandomCount must be >= 0, got {SandwichRandomCount}.", nameof(SandwichRandomCount));
            if (SandwichFinalEpochExtraCount < 0) throw new ArgumentException($"Options.SandwichFinalEpochExtraCount must be >= 0, got {SandwichFinalEpochExtraCount}.", nameof(SandwichFinalEpochExtraCount));
            if (!(DistillationWeight >= 0) || double.IsInfinity(DistillationWeight)) throw new ArgumentException($"Options.DistillationWeight must be >= 0, got {DistillationWeight}.", nameof(DistillationWeight));
            if (!(ValidationFraction >= 0 && ValidationFraction < 1)) throw new ArgumentException($"Options.ValidationFraction must be in [0, 1), got {ValidationFraction}.", nameof(ValidationFraction));
            if (CheckpointEverySteps < 0) throw new ArgumentException($"Options.CheckpointEverySteps must be >= 0, got {CheckpointEverySteps}.", nameof(CheckpointEverySteps));
            if ((CheckpointEverySteps > 0 || ResumeFromCheckpoint) && string.IsNullOrWhiteSpace(CheckpointPath))
                throw new ArgumentException("Options.CheckpointPath is needed for CheckpointEverySteps and ResumeFromCheckpoint.", nameof(CheckpointPath));
            if (EarlyStoppingPatience < 0) throw new ArgumentException($"Options.EarlyStoppingPatience must be >= 0, got {EarlyStoppingPatience}.", nameof(EarlyStoppingPatience));
            if (!(EarlyStoppingMinDelta >= 0) || double.IsInfinity(EarlyStoppingMinDelta))
                throw new ArgumentException($"Options.EarlyStoppingMinDelta must be a finite number >= 0, got {EarlyStoppingMinDelta}.", nameof(EarlyStoppingMinDelta));
            if (EarlyStoppingPatience > 0 && ValidationData is null && ValidationFraction == 0)
                throw new ArgumentException(
                    $"Options.EarlyStoppingPatience = {EarlyStoppingPatience} needs validation data, but Options.ValidationData is null and Options.ValidationFraction = 0. " +
                    "Set ValidationData, or a ValidationFraction in (0, 1), or EarlyStoppingPatience = 0.", nameof(EarlyStoppingPatience));
            if (InMemoryCacheLimitMB < 0) throw new ArgumentException($"Options.InMemoryCacheLimitMB must be >= 0, got {InMemoryCacheLimitMB}.", nameof(InMemoryCacheLimitMB));
            if (ShuffleBufferRows < 0) throw new ArgumentException($"Options.ShuffleBufferRows must be >= 0, got {ShuffleBufferRows}.", nameof(ShuffleBufferRows));
            string d = Device?.Trim().ToLowerInvariant() ?? "cpu";
            bool deviceOk = d == "cpu" || d == "cuda" || (d.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(d[5..], out int n) && n >= 0);
            if (!deviceOk) throw new ArgumentException($"Options.Device must be \"cpu\", \"cuda\" or \"cuda:N\", got \"{Device}\".", nameof(Device));
        }

        private static void ValidateWidths(double[]? widths, string name)
        {
            string list = widths is null ? "null" : "[" + string.Join(", ", widths.Select(w => w.ToString(System.Globalization.CultureInfo.InvariantCulture))) + "]";
            if (widths is null || widths.Length == 0)
                throw new ArgumentException($"Options.{name} needs at least one width multiplier, e.g. [0.25, 0.5, 0.75, 1.0].", name);
            foreach (double w in widths)
                if (!(w > 0 && w <= 1))
                    throw new ArgumentException($"Options.{name} = {list}: {w.ToString(System.Globalization.CultureInfo.InvariantCulture)} is outside (0, 1].", name);
            if (widths.Distinct().Count() != widths.Length)
                throw new ArgumentException($"Options.{name} = {list} must be distinct.", name);
            if (!widths.Contains(1.0))
                throw new ArgumentException($"Options.{name} = {list} must contain 1.0 (the full network).", name);
        }
        /// <summary>Bytes of one cached row of <paramref name="tasks"/>: the image floats, and per task one int
        /// (classification) or its label map's L*H*W floats (per-pixel tasks).</summary>
        internal long RowBytes(IReadOnlyList<TaskDefinition> tasks) => (long)ImageSize * sizeof(float)
            + tasks.Sum(t => t.IsPerPixel ? (long)MultiTaskDataset.PixelLabelChannels(t) * ImageHeight * ImageWidth * sizeof(float) : sizeof(int));

        /// <summary>The shuffle buffer's rows for streamed training.</summary>
        internal int EffectiveShuffleBufferRows(long rows, long rowBytes) => ShuffleBufferRows > 0 ? ShuffleBufferRows
            : (int)Math.Min(Math.Max(1, rows), Math.Max(BatchSize, Math.Min(10_000, ShuffleBufferBytes / Math.Max(1, rowBytes))));

        /// <summary>The default shuffle buffer's size in bytes: 256 MB, or a quarter of the cache limit when smaller.</summary>
        private long ShuffleBufferBytes => InMemoryCacheLimitMB > 0 ? Math.Min(256L << 20, ((long)InMemoryCacheLimitMB << 20) / 4) : 256L << 20;

        /// <summary>Images for the batch-norm post-statistics (internal: tests and benchmarks); null: the trainer's default.</summary>
        [JsonIgnore]
        internal int? PostStatisticsImages { get; set; }

        /// <summary>Internal override of the backbone (benchmarks: a smaller ResNet). Not saved.</summary>
        [JsonIgnore]
        internal Network.Backbones.BackboneOptions? BackboneOverride { get; set; }

        /// <summary>Number of floats per image, C*H*W.</summary>
        [JsonIgnore]
        public int ImageSize => ImageChannels * ImageHeight * ImageWidth;

        /// <summary>A deep copy of the saved options (without the not-saved ones).</summary>
        public Options Clone() => FromJson(ToJson());

        internal string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

        internal static Options FromJson(string json) =>
            JsonSerializer.Deserialize<Options>(json, JsonOptions) ?? throw new FormatException("Saved estimator options are empty.");

        private static readonly JsonSerializerOptions JsonOptions = new()
        {
            Converters = { new JsonStringEnumConverter() },
            NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        };
    }
}
