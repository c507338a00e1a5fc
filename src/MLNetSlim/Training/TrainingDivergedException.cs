namespace MLNetSlim.Training;

/// <summary>
/// Training stopped because a loss became NaN or infinite (typically a learning rate that is too high). Thrown before
/// that step's update, so the network keeps the weights (and batch-norm statistics) of the last good step. The message
/// names the epoch, the step, the configuration and which loss it was.
/// </summary>
public sealed class TrainingDivergedException : ArithmeticException
{
    /// <summary>Creates the exception.</summary>
    public TrainingDivergedException(int epoch, int step, string loss, double value, string configuration)
        : base($"Training stopped at epoch {epoch}, step {step}: the {loss} became {value.ToString(System.Globalization.CultureInfo.InvariantCulture)} " +
               $"at configuration {configuration}. The network keeps the weights of step {step - 1}, the last good one. " +
               "Lower the learning rate (Options.LearningRate / TrainingOptions.LearningRate) or check the data.")
    {
        Epoch = epoch;
        Step = step;
        Loss = loss;
        Value = value;
    }

    /// <summary>The epoch (1-based).</summary>
    public int Epoch { get; }

    /// <summary>The step that failed (1-based over the whole run); the weights are those after <c>Step - 1</c>.</summary>
    public int Step { get; }

    /// <summary>Which loss: "loss of task 'x'", "CI-KD loss" or "total loss".</summary>
    public string Loss { get; }

    /// <summary>The non-finite value.</summary>
    public double Value { get; }
}
