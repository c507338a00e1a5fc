using MLNetSlim.Control;
using MLNetSlim.Architecture;

namespace MLNetSlim.Model;

/// <summary>
/// A trained controllable multi-task model as the ML.NET layer sees it: tasks, input shape, cost table, the
/// budget/preference search, batched prediction at a width configuration, and serialisation.
/// </summary>
public interface IMultiTaskModel
{
    /// <summary>The tasks, in decoder order.</summary>
    IReadOnlyList<TaskDefinition> Tasks { get; }

    /// <summary>Input image channels C.</summary>
    int Channels { get; }

    /// <summary>Input image height H, pixels.</summary>
    int Height { get; }

    /// <summary>Input image width W, pixels.</summary>
    int Width { get; }

    /// <summary>Exact MACs of every configuration at this input size.</summary>
    CostTable Costs { get; }

    /// <summary>
    /// The width configuration for a budget and task preferences (ECMT runtime control), as the forward pass takes it
    /// (encoder option, decoder width indices, exact MACs). Must be safe for concurrent calls.
    /// </summary>
    /// <param name="budget">The compute budget.</param>
    /// <param name="taskPreferences">Non-negative weights, one per task in task order (need not sum to 1).</param>
    /// <exception cref="ArgumentOutOfRangeException">A negative, NaN or infinite weight, or all weights zero.</exception>
    /// <exception cref="ArgumentException">Wrong number of weights, or a budget below the smallest configuration
    /// (<see cref="BudgetInfeasibleException"/>).</exception>
    ResolvedConfiguration SelectConfiguration(Budget budget, IReadOnlyList<double> taskPreferences);

    /// <summary>
    /// Runs the network on a batch at <paramref name="configuration"/>, a configuration of <see cref="Costs"/> (as
    /// returned by <see cref="SelectConfiguration"/> or made by <see cref="CostTable.At"/>). Input:
    /// <paramref name="count"/> images, (N, C, H, W) float32 row-major. Output: per task, row-major: (N, K_t) class
    /// probabilities (softmax) for classification; for per-pixel tasks (N, C_t, H, W): segmentation K class probabilities
    /// per pixel (softmax over classes), depth in the label's units, normals as unit vectors, edges and saliency
    /// probabilities (sigmoid). Must be safe for concurrent calls on one instance: the ML.NET transformer calls it from
    /// several prediction engines and cursors at once, without a lock.
    /// </summary>
    float[][] Predict(ReadOnlySpan<float> images, int count, ResolvedConfiguration configuration);

    /// <summary>Writes the whole model (architecture, weights, calibration) to <paramref name="stream"/>.</summary>
    void Save(Stream stream);
}
