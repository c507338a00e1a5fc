using MLNetSlim.Data;
using MLNetSlim.Network.Backbones;
using MLNetSlim.Training;
using MLNetSlim.Model;

namespace MLNetSlim.MLNet;

/// <summary>The estimator's default <see cref="MultiTaskModelTrainer"/>: trains a <see cref="ControllableMultiTaskModel"/>.</summary>
internal static class BuiltInTrainer
{
    public static IMultiTaskModel Train(MultiTaskDataset train, MultiTaskDataset? validation, ControllableMultiTaskEstimator.Options options,
        IProgress<TrainingProgress>? progress, CancellationToken cancellationToken) =>
        // The estimator already held out Options.ValidationFraction (or took Options.ValidationData); no validation data
        // means ValidationFraction = 0, documented as "hold out nothing": the calibration table is measured on the training data.
        ModelTrainer.TrainFromBatches(new InMemoryBatches(train), validation is null ? null : new InMemoryBatches(validation),
            ToModelOptions(options), progress, cancellationToken);

    /// <summary>The built-in trainer on batch sources (in memory or streamed from the IDataView); no validation data
    /// means the calibration table is measured on the training data (and no per-epoch validation metrics).</summary>
    public static IMultiTaskModel Train(IMultiTaskBatches train, IMultiTaskBatches? validation, ControllableMultiTaskEstimator.Options options,
        IProgress<TrainingProgress>? progress, CancellationToken cancellationToken) =>
        ModelTrainer.TrainFromBatches(train, validation, ToModelOptions(options), progress, cancellationToken);

    /// <summary>The one mapping from the estimator's (already validated) options to the training options.</summary>
    internal static ModelOptions ToModelOptions(ControllableMultiTaskEstimator.Options o) => new()
    {
        Backbone = o.BackboneOverride ?? WithStageChannels(o.Backbone == MultiTaskBackbone.ResNet ? BackboneOptions.ResNet() : BackboneOptions.SmallConvNet(), o.StageChannels),
        Widths = o.Widths,
        DecoderWidths = o.DecoderWidths,
        PyramidChannels = o.PyramidChannels,
        Training = new TrainingOptions
        {
            Epochs = o.Epochs,
            BatchSize = o.BatchSize,
            DropLastPartialBatch = o.DropLastPartialBatch,
            ProgressEverySteps = o.ProgressEverySteps,
            LearningRate = o.LearningRate,
            SandwichRandomCount = o.SandwichRandomCount,
            SandwichFinalEpochExtraCount = o.SandwichFinalEpochExtraCount,
            DistillationWeight = o.DistillationWeight,
            Seed = o.Seed ?? 0,
            CheckpointPath = o.CheckpointPath,
            CheckpointEverySteps = o.CheckpointEverySteps,
            ResumeFromCheckpoint = o.ResumeFromCheckpoint,
            Device = o.Device ?? "cpu",
            PostStatisticsImages = o.PostStatisticsImages ?? new TrainingOptions().PostStatisticsImages,
            EarlyStoppingPatience = o.EarlyStoppingPatience,
            EarlyStoppingMinDelta = o.EarlyStoppingMinDelta,
        },
    };

    private static BackboneOptions WithStageChannels(BackboneOptions b, int[]? channels)
    {
        if (channels is not null) b.StageChannels = channels.ToArray();
        return b;
    }
}
