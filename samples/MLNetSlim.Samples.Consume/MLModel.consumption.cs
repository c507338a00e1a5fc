using Microsoft.ML;
using MLNetSlim.MLNet;

namespace MLNetSlim.Samples.Consume;

/// <summary>
/// Loads the model zip once (lazily, on first use) and predicts with a prediction engine, in the style of Model
/// Builder's MLModel.consumption.cs. <see cref="Network"/> is the controllable multi-task transformer inside the zip: set
/// its <c>Budget</c> and <c>TaskWeights</c> before <see cref="Predict"/> to choose a width configuration at run time.
/// Reads both an image-pipeline model (MLNetSlim.Samples.Train's) and the demo's pixel-vector model (out/model.zip).
/// Not thread-safe (neither is ML.NET's PredictionEngine): use one instance per thread, or see the WebApi sample.
/// </summary>
public sealed class MLModel
{
    private readonly Lazy<(PredictionEngine<ModelInput, ModelOutput> Engine, ServingModel Model)> _loaded;

    /// <summary>Checks the file; the zip is read on first use.</summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="modelPath"/>, or a folder.</exception>
    /// <exception cref="InvalidDataException">Not a zip file.</exception>
    public MLModel(string modelPath)
    {
        string path = SampleFiles.CheckModelFile(modelPath);
        _loaded = new(() =>
        {
            ServingModel model = ServingModel.Load<ModelInput>(path, ModelOutput.TaskNames);
            return (model.MLContext.Model.CreatePredictionEngine<ModelInput, ModelOutput>(model.Transformer), model);
        });
    }

    /// <summary>The network inside the model: Budget, TaskWeights, Configuration, ConfigurationMacs, FullMacs.</summary>
    public ControllableMultiTaskTransformer Network => _loaded.Value.Model.Network;

    /// <summary>"image" (the Train sample's image pipeline) or "features" (the demo's 784-float model).</summary>
    public string InputKind => _loaded.Value.Model.InputKind;

    /// <summary>Predicts every task for one image with the current budget and task weights.</summary>
    public ModelOutput Predict(ModelInput input) => _loaded.Value.Engine.Predict(input);

    /// <summary>Class names of <paramref name="task"/>, in the order of its scores.</summary>
    public string[] ClassNames(string task) => _loaded.Value.Model.ClassNames(task, _loaded.Value.Engine.OutputSchema);
}
