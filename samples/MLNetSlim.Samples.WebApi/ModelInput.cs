using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace MLNetSlim.Samples.WebApi;

/// <summary>One input row of the model saved by MLNetSlim.Samples.Train: an image of any size and colour (the model
/// resizes it to 28x28 and converts it to grey).</summary>
public sealed class ModelInput
{
    /// <summary>The image; load it with <see cref="MLImage.CreateFromFile"/> or <see cref="MLImage.CreateFromStream"/>.</summary>
    // ML.NET needs a size here (the parameterless [ImageType] fails in ML.NET 5.0.1); it only declares the column type.
    [ColumnName("Image"), ImageType(28, 28)]
    public MLImage Image { get; set; } = null!;

    /// <summary>This row's compute budget, a fraction of the full network's MACs in (0, 1]: the transformer's per-row
    /// budget column (<c>ControllableMultiTaskTransformer.BudgetColumnName</c>, "Budget").</summary>
    public float Budget { get; set; } = 1f;

    /// <summary>This row's task weights, one per task in the model's task order; empty: the model's saved weights. The
    /// transformer's per-row weights column ("TaskWeights").</summary>
    public float[] TaskWeights { get; set; } = [];
}
