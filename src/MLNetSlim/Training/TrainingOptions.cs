using MLNetSlim.Architecture;

namespace MLNetSlim.Training;

/// <summary>The optimiser.</summary>
public enum OptimizerKind
{
    /// <summary>Adam (Kingma &amp; Ba, 2015).</summary>
    Adam = 0,

    /// <summary>SGD with Nesterov momentum.</summary>
    Sgd = 1,
}

/// <summary>The learning-rate schedule, stepped once per optimiser step.</summary>
public enum LearningRateSchedule
{
    /// <summary>Constant.</summary>
    Constant = 0,

    /// <summary>Cosine annealing to zero over the whole run (Loshchilov &amp; Hutter, 2017).</summary>
    Cosine = 1,

    /// <summary>Multiply by 0.1 at 50% and 75% of the run.</summary>
    Step = 2,
}

/// <summary>Which encoder features CI-KD compares.</summary>
public enum DistillationFeatures
{
    /// <summary>The encoder's output (what the decoders read).</summary>
    EncoderOutput = 0,

    /// <summary>The output of every encoder stage.</summary>
    AllEncoderStages = 1,
}

/// <summary>
/// Options of super-network training with the sandwich rule and Configuration-Invariant Knowledge Distillation (CI-KD).
/// See docs/method.md.
/// </summary>
public sealed class TrainingOptions
{
    /// <summary>Passes over the training data.</summary>
    public int Epochs { get; set; } = 3;

    /// <summary>Images per step.</summary>
    public int BatchSize { get; set; } = 128;

    /// <summary>The optimiser.</summary>
    public OptimizerKind Optimizer { get; set; } = OptimizerKind.Adam;

    /// <summary>Initial learning rate.</summary>
    public double LearningRate { get; set; } = 2e-3;

    /// <summary>SGD momentum (Nesterov).</summary>
    public double Momentum { get; set; } = 0.9;

    /// <summary>L2 weight decay.</summary>
    public double WeightDecay { get; set; }

    /// <summary>The learning-rate schedule.</summary>
    public LearningRateSchedule Schedule { get; set; } = LearningRateSchedule.Cosine;

    /// <summary>
    /// k, the number of random configurations per step besides the full and the smallest one (sandwich rule, Yu &amp;
    /// Huang, ICCV 2019). In each, the encoder width and every decoder width are drawn independently. Default 1 (three
    /// configurations per step), and <see cref="SandwichFinalEpochExtraCount"/> more in the last epoch: on
    /// Multi-(Fashion+MNIST) k = 2 throughout costs about 2.1x a static full network's training against 1.66x for k = 1
    /// (docs/benchmarks/compare.md). Yu &amp; Huang used k = 2.
    /// </summary>
    public int SandwichRandomCount { get; set; } = 1;

    /// <summary>
    /// When true, the random configurations' encoder option is drawn from the options other than the full and the
    /// smallest one (when there are more than two), since those two are trained at every step already: with the
    /// default four encoder widths and k = 1 the middle encoder widths get twice the steps, at no extra cost. Decoder
    /// widths stay uniform over the whole width set. Default true: on Multi-(Fashion+MNIST), together with
    /// <see cref="InplaceDistillationWeight"/> = 1, it brought the worst mid-width configuration from 2.19 to about 1 point
    /// of its static twin at the same training time (docs/benchmarks/compare.md, issue 12 ablation). False restores
    /// the uniform draw over every encoder option.
    /// </summary>
    public bool SandwichMiddleEncoders { get; set; } = true;

    /// <summary>
    /// Random configurations added to <see cref="SandwichRandomCount"/> at every step of the last epoch: k + this many,
    /// while the learning rate anneals, so the mid-width configurations that share the full one's weights get more
    /// updates once the full configuration has settled. Default 1 (k = 1 in the first epochs, 2 in the last; with one
    /// epoch, k + 1 throughout): on Multi-(Fashion+MNIST) it brought every configuration of the compare benchmark
    /// within 1.0 point of its static twin (worst -0.90 against -1.02 without it) with the full configuration
    /// unchanged, for about 10 % more training time; k = 2 throughout reached -0.79 but costs more than 2x a static
    /// full network (docs/benchmarks/compare.md, issue 12). 0 disables it. An early stop (EarlyStoppingPatience)
    /// before the last epoch skips it.
    /// </summary>
    public int SandwichFinalEpochExtraCount { get; set; } = 1;

    /// <summary>
    /// When true, the k random configurations of a step share one encoder option, drawn once per step, and one encoder
    /// forward pass: k decoder-width draws on one sampled encoder width, their losses summed before one backward pass
    /// (issue-12 ablation `middle+inplace+k2shared`: it met the mid-width target too but cost more than the final-epoch
    /// extra configuration). Default false.
    /// </summary>
    internal bool SandwichSharedEncoder { get; set; }

    /// <summary>k at the steps of epoch <paramref name="epoch"/> (1-based): <see cref="SandwichRandomCount"/>, plus
    /// <see cref="SandwichFinalEpochExtraCount"/> in the last epoch.</summary>
    internal int SandwichRandomCountAt(int epoch) => SandwichRandomCount + (epoch == Epochs ? SandwichFinalEpochExtraCount : 0);

    /// <summary>
    /// Lambda, the weight of the CI-KD loss (ECMT): distance between a sampled configuration's encoder features and the
    /// leading channels of the detached full-width encoder's features. 0 disables CI-KD.
    /// </summary>
    public double DistillationWeight { get; set; } = 1.0;

    /// <summary>Which encoder features CI-KD compares.</summary>
    public DistillationFeatures DistillationFeatures { get; set; } = DistillationFeatures.EncoderOutput;

    /// <summary>
    /// Weight of in-place distillation of task outputs (Yu &amp; Huang, ICCV 2019): for every sampled configuration
    /// other than the full one, the cross-entropy between the detached softmax of the full configuration's output and
    /// the sampled one's (per pixel for segmentation; classification rows that label the task), added to its task
    /// losses. The teacher's outputs come from the step's full-configuration pass, so the cost is one loss term per
    /// sampled configuration. Default 1 (issue 12: mid-width configurations, docs/benchmarks/compare.md); 0 disables it.
    /// </summary>
    public double InplaceDistillationWeight { get; set; } = 1.0;

    /// <summary>Per-task loss weights in task order; null: 1 for every task.</summary>
    public double[]? TaskLossWeights { get; set; }

    /// <summary>Seed of weight initialisation, shuffling and configuration sampling.</summary>
    public int Seed { get; set; }

    /// <summary>Torch device: "cpu", "cuda" or "cuda:N".</summary>
    public string Device { get; set; } = "cpu";

    /// <summary>Torch intra-op threads; 0: the number of cores.</summary>
    public int Threads { get; set; }

    /// <summary>
    /// True (default): an epoch's last batch, when it is smaller than <see cref="BatchSize"/>, is skipped (every step
    /// sees a full batch; the skipped rows differ per epoch because the order is shuffled). False: it is trained on too,
    /// unless it has a single row (batch norm needs two). With fewer training rows than <see cref="BatchSize"/>, every
    /// step uses one batch of all rows either way.
    /// </summary>
    public bool DropLastPartialBatch { get; set; } = true;

    /// <summary>Report progress every this many steps (and at each epoch end).</summary>
    public int ProgressEverySteps { get; set; } = 50;

    /// <summary>
    /// Training images used afterwards to recompute exact batch-norm statistics for every context ("post-statistics",
    /// Yu &amp; Huang, ICCV 2019). 0 skips post-statistics (momentum statistics from training are kept).
    /// </summary>
    public int PostStatisticsImages { get; set; } = 2048;

    /// <summary>
    /// When set, trains only this configuration every step: a static network of that shape (the "one model per
    /// scenario" baseline). Disables the sandwich rule and CI-KD, and batch-norm post-statistics covers only the contexts
    /// of this configuration. Null (default): super-network training.
    /// </summary>
    public WidthConfiguration? FixedConfiguration { get; set; }

    /// <summary>
    /// File of the training checkpoint written every <see cref="CheckpointEverySteps"/> steps (crash-safely: temporary
    /// file, fsync, atomic rename) and read by <see cref="ResumeFromCheckpoint"/>. Null: no checkpoints.
    /// </summary>
    public string? CheckpointPath { get; set; }

    /// <summary>Write a checkpoint every this many optimiser steps; 0 (default) writes none.</summary>
    public int CheckpointEverySteps { get; set; }

    /// <summary>
    /// When <see cref="CheckpointPath"/> exists, continue from it instead of starting over: the run then ends with the
    /// same weights as an uninterrupted run with the same seed, data and settings. The checkpoint must come from a run
    /// with the same settings (else <see cref="InvalidOperationException"/>); a damaged one throws
    /// <c>InvalidModelFileException</c>. No checkpoint file: training starts from the beginning.
    /// </summary>
    public bool ResumeFromCheckpoint { get; set; }

    /// <summary>
    /// Early stopping on the per-epoch validation metrics (<see cref="TrainingProgress.ValidationMetrics"/>: each task's
    /// primary metric at the full configuration, measured on the validation data after every epoch). An epoch
    /// <em>improves</em> when at least one task's metric beats that task's best so far by more than
    /// <see cref="EarlyStoppingMinDelta"/> (higher for accuracy, mIoU, F; lower for RMSE and angular error). Training
    /// stops after this many consecutive epochs without improvement; the network keeps the last epoch's weights, and the
    /// learning-rate schedule stays where it was. 0 (default): no early stopping. Needs validation data.
    /// </summary>
    public int EarlyStoppingPatience { get; set; }

    /// <summary>The least change of a task's validation metric, in the metric's own units (e.g. 0.001 = 0.1 points of
    /// accuracy), that counts as an improvement for <see cref="EarlyStoppingPatience"/>. Default 0.</summary>
    public double EarlyStoppingMinDelta { get; set; }

    /// <summary>Checks the options.</summary>
    /// <exception cref="ArgumentException">Names the option and the expected range.</exception>
    public void Validate(int taskCount)
    {
        if (Epochs < 1) throw new ArgumentException($"TrainingOptions.Epochs must be at least 1, got {Epochs}.");
        if (BatchSize < 2) throw new ArgumentException($"TrainingOptions.BatchSize must be at least 2 (batch norm), got {BatchSize}.");
        if (!(LearningRate > 0)) throw new ArgumentException($"TrainingOptions.LearningRate must be positive, got {LearningRate}.");
        if (SandwichRandomCount < 0) throw new ArgumentException($"TrainingOptions.SandwichRandomCount must be >= 0, got {SandwichRandomCount}.");
        if (SandwichFinalEpochExtraCount < 0) throw new ArgumentException($"TrainingOptions.SandwichFinalEpochExtraCount must be >= 0, got {SandwichFinalEpochExtraCount}.");
        if (DistillationWeight < 0 || InplaceDistillationWeight < 0)
            throw new ArgumentException("TrainingOptions.DistillationWeight and InplaceDistillationWeight must be >= 0.");
        if (TaskLossWeights is not null && (TaskLossWeights.Length != taskCount || TaskLossWeights.Any(w => w < 0 || double.IsNaN(w))))
            throw new ArgumentException($"TrainingOptions.TaskLossWeights must have {taskCount} non-negative entries (one per task).");
        if (ProgressEverySteps < 1) throw new ArgumentException("TrainingOptions.ProgressEverySteps must be at least 1.");
        if (PostStatisticsImages < 0) throw new ArgumentException("TrainingOptions.PostStatisticsImages must be >= 0.");
        if (CheckpointEverySteps < 0) throw new ArgumentException($"TrainingOptions.CheckpointEverySteps must be >= 0, got {CheckpointEverySteps}.");
        if ((CheckpointEverySteps > 0 || ResumeFromCheckpoint) && string.IsNullOrWhiteSpace(CheckpointPath))
            throw new ArgumentException("TrainingOptions.CheckpointPath is needed for CheckpointEverySteps and ResumeFromCheckpoint.");
        if (EarlyStoppingPatience < 0) throw new ArgumentException($"TrainingOptions.EarlyStoppingPatience must be >= 0, got {EarlyStoppingPatience}.");
        if (!(EarlyStoppingMinDelta >= 0) || double.IsInfinity(EarlyStoppingMinDelta))
            throw new ArgumentException($"TrainingOptions.EarlyStoppingMinDelta must be a finite number >= 0, got {EarlyStoppingMinDelta}.");
        _ = Runtime.TorchDevice.Parse(Device);
    }
}
