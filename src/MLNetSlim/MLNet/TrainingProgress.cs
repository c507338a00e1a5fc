using MLNetSlim.Data;
using MLNetSlim.Network;

namespace MLNetSlim.MLNet;

/// <summary>One progress report of a training run.</summary>
/// <param name="Message">A human-readable line, e.g. "epoch 3/10: loss 0.412".</param>
/// <param name="Epoch">The 1-based epoch the report belongs to, or 0 before the first epoch.</param>
/// <param name="Epochs">Total epochs planned.</param>
/// <param name="Loss">The latest training loss (mean over the reported span), or null.</param>
public sealed record TrainingProgress(string Message, int Epoch = 0, int Epochs = 0, double? Loss = null)
{
    /// <summary>The message.</summary>
    public override string ToString() => Message;
}

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
