using MLNetSlim.Data;
using MLNetSlim.Control;
using MLNetSlim.Network;
using MLNetSlim.Network.Backbones;
using MLNetSlim.Training;

namespace MLNetSlim.MLNet;

/// <summary>The estimator's default <see cref="MultiTaskModelTrainer"/>: trains a <see cref="ControllableMultiTaskModel"/>.</summary>
internal static class BuiltInTrainer
{
    public static IMultiTaskModel Train(MultiTaskDataset train, MultiTaskDataset? validation, ControllableMultiTaskEstimator.Options options,
        IProgress<TrainingProgress>? progress, CancellationToken cancellationToken) =>
        ControllableMultiTaskModel.Train(train, validation, ToModelOptions(options), progress, cancellationToken);

    internal static ModelOptions ToModelOptions(ControllableMultiTaskEstimator.Options o) => new()
    {
        Backbone = o.Backbone == MultiTaskBackbone.ResNet ? BackboneOptions.ResNet() : BackboneOptions.SmallConvNet(),
        Widths = o.Widths,
        ValidationFraction = o.ValidationFraction > 0 ? o.ValidationFraction : 0.1,
        Training = new TrainingOptions
        {
            Epochs = o.Epochs,
            BatchSize = o.BatchSize,
            DropLastPartialBatch = o.DropLastPartialBatch,
            ProgressEverySteps = o.ProgressEverySteps,
            LearningRate = o.LearningRate,
            SandwichRandomCount = o.SandwichRandomCount,
            DistillationWeight = o.DistillationWeight,
            Seed = o.Seed ?? 0,
            Device = o.Device,
        },
    };
}
