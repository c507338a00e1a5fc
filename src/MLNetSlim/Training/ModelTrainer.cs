using MLNetSlim.Architecture;
using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.Evaluation;
using MLNetSlim.Model;
using MLNetSlim.Network;
using MLNetSlim.Runtime;

namespace MLNetSlim.Training;

/// <summary>
/// The training orchestration that produces a deployable <see cref="ControllableMultiTaskModel"/>: builds the network,
/// trains the super-network, refreshes the batch-norm post-statistics, and measures the calibration table. Kept out of
/// the Model folder so that the deployable model does not depend on training or evaluation (docs/architecture.md).
/// </summary>
public static class ModelTrainer
{
    /// <summary>
    /// Trains a model: builds the network (seeded), trains it with the sandwich rule and CI-KD, recomputes the batch-norm
    /// post-statistics, then measures the calibration table on <paramref name="validation"/> (or a seeded held-out
    /// fraction of <paramref name="train"/>): (#encoder options x #widths) evaluation passes. After every epoch each
    /// task's primary metric at the full configuration on the validation images goes to the epoch-end
    /// <see cref="TrainingProgress.ValidationMetrics"/> and drives <see cref="TrainingOptions.EarlyStoppingPatience"/>.
    /// </summary>
    /// <param name="train">Training images and labels.</param>
    /// <param name="validation">Held-out images that measure the calibration table, or null to hold out
    /// <see cref="ModelOptions.ValidationFraction"/> of <paramref name="train"/>.</param>
    /// <param name="options">Architecture and training options.</param>
    /// <param name="progress">Where to report progress, or null.</param>
    /// <param name="cancellationToken">Cancels training.</param>
    /// <returns>The trained model, on <see cref="TrainingOptions.Device"/>.</returns>
    /// <exception cref="ArgumentException">Invalid options or data.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static ControllableMultiTaskModel Train(MultiTaskDataset train, MultiTaskDataset? validation, ModelOptions options,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        TorchRuntime.PrepareForTraining();
        if (validation is null)
        {
            if (train.Count < 4) throw new ArgumentException($"Training needs at least 4 images to hold some out for calibration; got {train.Count}.", nameof(train));
            if (!(options.ValidationFraction > 0 && options.ValidationFraction < 1))
                throw new ArgumentOutOfRangeException(nameof(options), options.ValidationFraction,
                    "ModelOptions.ValidationFraction must be in (0, 1) when no validation data is given: the calibration table is measured on held-out images. " +
                    "To calibrate on the training images themselves, pass them as the validation data.");
            (train, validation) = train.Split(options.ValidationFraction, options.Training.Seed);
        }
        return TrainFromBatches(new InMemoryBatches(train), new InMemoryBatches(validation), options, progress, cancellationToken);
    }

    /// <summary>Trains a model on batch sources (in memory or streamed): build, train (with per-epoch validation metrics
    /// and optional early stopping on <paramref name="validation"/>), post-statistics, then the calibration table
    /// measured on <paramref name="validation"/>, or on <paramref name="train"/> when it is null (no per-epoch metrics
    /// then).</summary>
    internal static ControllableMultiTaskModel TrainFromBatches(IMultiTaskBatches train, IMultiTaskBatches? validation, ModelOptions options,
        IProgress<TrainingProgress>? progress, CancellationToken cancellationToken)
    {
        TorchRuntime.PrepareForTraining();
        NetworkOptions networkOptions = options.NetworkFor(train.Tasks, train.Channels, train.Height, train.Width);
        MultiTaskNetwork network = SupernetTrainer.CreateNetwork(networkOptions, options.Training.Seed);
        SupernetTrainer.Train(network, train, options.Training, progress, cancellationToken, validation);
        cancellationToken.ThrowIfCancellationRequested();
        CalibrationTable calibration = FromAccuracy(network, NetworkEvaluator.AccuracyTable(network, validation ?? train, 256, options.Training.Device));
        return new ControllableMultiTaskModel(network, calibration, Guid.NewGuid(), options.Training.Device);
    }

    /// <summary>
    /// Measures the calibration table of <paramref name="network"/> on <paramref name="data"/>: the primary metric
    /// (<see cref="TaskDefinition.PrimaryMetric"/>, with its direction) of every task
    /// for every encoder option and decoder width. Exact for this architecture, since task t's output depends only on
    /// the encoder option and its own decoder width (see docs/control.md).
    /// </summary>
    /// <param name="network">A trained network.</param>
    /// <param name="data">Held-out images and labels.</param>
    /// <param name="device">Torch device to evaluate on.</param>
    /// <returns>The calibration table.</returns>
    public static CalibrationTable Calibrate(MultiTaskNetwork network, MultiTaskDataset data, string device = "cpu") =>
        FromAccuracy(network, NetworkEvaluator.AccuracyTable(network, data, 256, device)); // [t][e][d], encoder shared across widths

    private static CalibrationTable FromAccuracy(MultiTaskNetwork network, double[][][] accuracy) =>
        CalibrationTable.Calibrate(network.CostTable, network.Tasks.Select(t => t.HigherIsBetter).ToArray(),
            (e, d) => accuracy.Select(task => task[e][d]).ToArray());
}
