namespace MLNetSlim.Training;

/// <summary>
/// A progress report of super-network training, sent every <see cref="TrainingOptions.ProgressEverySteps"/> steps and
/// at the end of each epoch. Losses are means over the steps since the previous report of the same kind.
/// </summary>
public sealed record TrainingProgress
{
    /// <summary>1-based epoch.</summary>
    public required int Epoch { get; init; }

    /// <summary>Total epochs.</summary>
    public required int Epochs { get; init; }

    /// <summary>Steps done so far in all epochs.</summary>
    public required int Step { get; init; }

    /// <summary>Total steps of the run.</summary>
    public required int TotalSteps { get; init; }

    /// <summary>True for the report at the end of an epoch (means over the whole epoch).</summary>
    public required bool IsEpochEnd { get; init; }

    /// <summary>Per task (by name): mean task loss of the full configuration.</summary>
    public required IReadOnlyDictionary<string, double> TaskLosses { get; init; }

    /// <summary>Mean CI-KD loss over the sampled non-full configurations (0 when disabled).</summary>
    public required double DistillationLoss { get; init; }

    /// <summary>Training throughput, images per second (each image counted once per step).</summary>
    public required double ImagesPerSecond { get; init; }

    /// <summary>Current learning rate.</summary>
    public required double LearningRate { get; init; }

    /// <summary>Wall time since training started.</summary>
    public required TimeSpan Elapsed { get; init; }

    /// <summary>Epoch-end reports when validation data are given: per task (by name) its primary metric
    /// (<c>TaskDefinition.PrimaryMetric</c>: accuracy, mIoU, RMSE, ...) at the full configuration on the validation
    /// data after this epoch; null otherwise.</summary>
    public IReadOnlyDictionary<string, double>? ValidationMetrics { get; init; }

    /// <summary>True on the epoch-end report after which training stops early
    /// (<see cref="TrainingOptions.EarlyStoppingPatience"/>).</summary>
    public bool StoppedEarly { get; init; }

    /// <summary>One line: "epoch 1/3 step 50/1407 | loss digit 0.412 fashion 0.733 | ci-kd 0.081 | 512 img/s".</summary>
    public override string ToString() =>
        FormattableString.Invariant($"epoch {Epoch}/{Epochs} step {Step}/{TotalSteps}{(IsEpochEnd ? " (epoch end)" : "")} | loss ") +
        string.Join(" ", TaskLosses.Select(kv => FormattableString.Invariant($"{kv.Key} {kv.Value:0.000}"))) +
        FormattableString.Invariant($" | ci-kd {DistillationLoss:0.000} | lr {LearningRate:0.#####} | {ImagesPerSecond:0} img/s") +
        (ValidationMetrics is null ? "" : " | validation " + string.Join(" ", ValidationMetrics.Select(kv => FormattableString.Invariant($"{kv.Key} {kv.Value:0.0000}")))) +
        (StoppedEarly ? " | stopped early (no validation improvement)" : "");
}
