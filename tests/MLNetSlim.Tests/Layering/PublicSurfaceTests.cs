using System.Reflection;
using MLNetSlim.MLNet;

namespace MLNetSlim.Tests.Layering;

/// <summary>The packed core ships only its job: no data fetching, and a public surface limited to what a user needs
/// (docs/architecture.md, "Public surface"). A new public type must be added here on purpose.</summary>
[TestClass]
public sealed class PublicSurfaceTests
{
    /// <summary>The core's public types (MLNetSlim, MLNetSlim.Control and MLNetSlim.Serving together): the catalog, estimator + Options, transformer, model loading, ONNX export and the ONNX Runtime model, Budget and control
    /// types, the custom-trainer path (ModelTrainer + options) and the network building blocks for custom backbones.</summary>
    public static readonly string[] AllowedPublicTypes =
    [
        "MLNetSlim.Architecture.CostTable",
        "MLNetSlim.Architecture.ResolvedConfiguration",
        "MLNetSlim.Architecture.TaskDefinition",
        "MLNetSlim.Architecture.TaskKind",
        "MLNetSlim.Architecture.WidthConfiguration",
        "MLNetSlim.Architecture.WidthSet",
        "MLNetSlim.Control.Budget",
        "MLNetSlim.Control.BudgetInfeasibleException",
        "MLNetSlim.Control.BudgetUnit",
        "MLNetSlim.Control.CalibrationTable",
        "MLNetSlim.Control.ConfigurationSearch",
        "MLNetSlim.Control.DecoderGainModel",
        "MLNetSlim.Control.LatencyTable",
        "MLNetSlim.Control.ParetoFrontResult",
        "MLNetSlim.Control.ParetoPoint",
        "MLNetSlim.Control.SearchOptions",
        "MLNetSlim.Control.SearchResult",
        "MLNetSlim.Control.TaskPreferences",
        "MLNetSlim.Data.MultiTaskDataset",
        "MLNetSlim.MLNet.ControlSnapshot",
        "MLNetSlim.MLNet.ControllabilityEvaluation",
        "MLNetSlim.MLNet.ControllabilityBudgetFigures",
        "MLNetSlim.MLNet.ControllabilityFigures",
        "MLNetSlim.MLNet.ControllabilityPoint",
        "MLNetSlim.MLNet.ControllableMultiTaskEstimator",
        "MLNetSlim.MLNet.ControllableMultiTaskEstimator+Options",
        "MLNetSlim.MLNet.ControllableMultiTaskEstimator+TaskColumn",
        "MLNetSlim.MLNet.ControllableMultiTaskTransformer",
        "MLNetSlim.MLNet.MLNetSlimCatalog",
        "MLNetSlim.MLNet.MLNetSlimEvaluation",
        "MLNetSlim.MLNet.MultiTaskBackbone",
        "MLNetSlim.MLNet.MultiTaskModelLoaders",
        "MLNetSlim.MLNet.PerPixelMetrics",
        "MLNetSlim.MLNet.MultiTaskModelTrainer",
        "MLNetSlim.MLNet.OnnxExportCatalog",
        "MLNetSlim.MLNet.OnnxServingExtensions",
        "MLNetSlim.Model.ControllableMultiTaskModel",
        "MLNetSlim.Model.IMultiTaskModel",
        "MLNetSlim.Model.InvalidModelFileException",
        "MLNetSlim.Network.Backbones.BackboneKind",
        "MLNetSlim.Network.Backbones.BackboneOptions",
        "MLNetSlim.Network.Backbones.ResNet",
        "MLNetSlim.Network.Backbones.SmallConvNet",
        "MLNetSlim.Network.Decoders.ClassificationHead",
        "MLNetSlim.Network.Decoders.EncoderFeature",
        "MLNetSlim.Network.Decoders.FpnLiteHead",
        "MLNetSlim.Network.Decoders.SegmentationHead",
        "MLNetSlim.Network.Decoders.TaskDecoder",
        "MLNetSlim.Network.Decoders.TaskHead",
        "MLNetSlim.Network.MultiTaskNetwork",
        "MLNetSlim.Network.MultiTaskOutput",
        "MLNetSlim.Network.NetworkOptions",
        "MLNetSlim.Nn.ConvStage",
        "MLNetSlim.Nn.IInferenceGraphBuilder",
        "MLNetSlim.Nn.ResidualStage",
        "MLNetSlim.Nn.SlimmableBatchNorm2d",
        "MLNetSlim.Nn.SlimmableConv2d",
        "MLNetSlim.Nn.SlimmableLinear",
        "MLNetSlim.Nn.SlimmableStage",
        "MLNetSlim.Onnx.MultiTaskOnnxExporter",
        "MLNetSlim.Onnx.OnnxRuntimeMultiTaskModel",
        "MLNetSlim.Onnx.OnnxRuntimeServingOptions",
        "MLNetSlim.Runtime.TorchRuntime",
        "MLNetSlim.Serving.BundleLatency",
        "MLNetSlim.Serving.ServingBundle",
        "MLNetSlim.Serving.ServingMultiTaskModel",
        "MLNetSlim.Serving.ServingMultiTaskTransformer",
        "MLNetSlim.Serving.ServingOptions",
        "MLNetSlim.Training.DistillationFeatures",
        "MLNetSlim.Training.LearningRateSchedule",
        "MLNetSlim.Training.ModelOptions",
        "MLNetSlim.Training.ModelTrainer",
        "MLNetSlim.Training.OptimizerKind",
        "MLNetSlim.Training.TrainingDivergedException",
        "MLNetSlim.Training.TrainingOptions",
        "MLNetSlim.Training.TrainingProgress",
    ];

    private static readonly Assembly Core = typeof(ControllableMultiTaskTransformer).Assembly;

    /// <summary>The TorchSharp-free assembly under the core (namespaces Architecture and Control).</summary>
    private static readonly Assembly Control = typeof(MLNetSlim.Control.Budget).Assembly;

    /// <summary>The TorchSharp-free serving assembly (serving bundle, ONNX Runtime model, ML.NET transformer).</summary>
    private static readonly Assembly Serving = typeof(MLNetSlim.Serving.ServingBundle).Assembly;

    [TestMethod]
    public void TheCoreHasNoDataFetcher_AndNoDataSetLoaders()
    {
        string[] names = Core.GetTypes().Concat(Control.GetTypes()).Select(t => t.Name).ToArray();
        foreach (string banned in new[] { "DataFetcher", "DataFolders", "DataLocator", "Mnist", "FashionMnist", "MultiFashionMnist",
                     "SyntheticControlProblem", "SearchBenchmark" })
            Assert.IsFalse(names.Contains(banned), $"type {banned} belongs outside the packed core (MLNetSlim.Datasets, samples, tests or benchmarks)");
        Assert.IsFalse(Core.GetReferencedAssemblies().Concat(Control.GetReferencedAssemblies()).Any(a => a.Name is "MLNetSlim.Datasets" or "MLNetSlim.SampleData"));
        Assert.IsFalse(typeof(MLNetSlim.Datasets.Mnist).Assembly.GetTypes().Any(t => t.Name == "DataFetcher"),
            "the packable MLNetSlim.Datasets must not fetch either");
    }

    [TestMethod]
    public void TheCorePublicTypesAreExactlyTheAllowList()
    {
        Assert.AreNotSame(Core, Control, "Architecture and Control live in their own assembly, MLNetSlim.Control");
        string[] actual = Core.GetExportedTypes().Concat(Control.GetExportedTypes()).Concat(Serving.GetExportedTypes()).Select(t => t.FullName!).Order(StringComparer.Ordinal).ToArray();
        string[] extra = actual.Except(AllowedPublicTypes).ToArray();
        string[] missing = AllowedPublicTypes.Except(actual).ToArray();
        Assert.IsTrue(extra.Length == 0 && missing.Length == 0,
            $"Public surface changed. Made public: [{string.Join(", ", extra)}]; no longer public: [{string.Join(", ", missing)}]. " +
            "Keep internals internal (tests, benchmarks, the demo and LoadHost see them through InternalsVisibleTo), or update the allow-list and docs/architecture.md.");
    }
}
