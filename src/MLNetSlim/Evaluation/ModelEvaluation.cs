using MLNetSlim.Architecture;
using MLNetSlim.Data;
using MLNetSlim.Model;

namespace MLNetSlim.Evaluation;

/// <summary>Evaluation of a deployable <see cref="ControllableMultiTaskModel"/> on labelled data.</summary>
internal static class ModelEvaluation
{
    /// <summary>Per-task accuracy in [0, 1] on <paramref name="data"/> at <paramref name="configuration"/>.</summary>
    /// <param name="model">The model.</param>
    /// <param name="data">Images and labels.</param>
    /// <param name="configuration">The width configuration to run.</param>
    /// <returns>One accuracy per task, in task order.</returns>
    public static double[] Evaluate(this ControllableMultiTaskModel model, MultiTaskDataset data, WidthConfiguration configuration) =>
        NetworkEvaluator.Accuracy(model.Network, data, configuration, 256, model.Device);
}
