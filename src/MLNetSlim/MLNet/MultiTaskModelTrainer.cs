using MLNetSlim.Data;
using MLNetSlim.Training;
using MLNetSlim.Model;

namespace MLNetSlim.MLNet;

/// <summary>
/// Trains a controllable multi-task network: the function the estimator's <c>Fit</c> calls once the
/// <see cref="Microsoft.ML.IDataView"/> is converted.
/// </summary>
/// <param name="train">Training images (N, C, H, W) and labels.</param>
/// <param name="validation">Held-out images for calibration and early checks, or null.</param>
/// <param name="options">The estimator's options (a copy; tasks already resolved to <paramref name="train"/>'s tasks).</param>
/// <param name="progress">Where to report progress, or null.</param>
/// <param name="cancellationToken">Cancels training; the trainer throws <see cref="OperationCanceledException"/>.</param>
/// <returns>The trained model.</returns>
public delegate IMultiTaskModel MultiTaskModelTrainer(MultiTaskDataset train, MultiTaskDataset? validation,
    ControllableMultiTaskEstimator.Options options, IProgress<TrainingProgress>? progress, CancellationToken cancellationToken);
