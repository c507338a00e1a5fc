using MLNetSlim.MLNet;

namespace MLNetSlim.Demo;

/// <summary>The training settings the paper benchmarks' commands (nyud, pascal-context, cifar100-mtl) share.</summary>
public interface IBenchmarkTrainingSettings
{
    /// <summary>Torch device: cpu, cuda or cuda:N.</summary>
    string Device { get; }

    /// <summary>small or resnet.</summary>
    string Backbone { get; }

    /// <summary>Training epochs.</summary>
    int Epochs { get; }

    /// <summary>Images per step.</summary>
    int BatchSize { get; }

    /// <summary>Peak learning rate.</summary>
    double LearningRate { get; }

    /// <summary>Training seed.</summary>
    int Seed { get; }

    /// <summary>Share of the training rows held out for the calibration table.</summary>
    double ValidationFraction { get; }
}

/// <summary>What the paper benchmarks' commands train with.</summary>
internal static class BenchmarkTraining
{
    /// <summary>The estimator options of a paper benchmark: 3-channel images of <paramref name="height"/> x
    /// <paramref name="width"/>, the settings' backbone ("resnet", else the small ConvNet), schedule, device, seed and
    /// validation share. The caller adds the tasks.</summary>
    public static ControllableMultiTaskEstimator.Options EstimatorOptions(this IBenchmarkTrainingSettings s, int height, int width, CancellationToken ct) => new()
    {
        ImageChannels = 3,
        ImageHeight = height,
        ImageWidth = width,
        Backbone = s.Backbone == "resnet" ? MultiTaskBackbone.ResNet : MultiTaskBackbone.SmallConvNet,
        Epochs = s.Epochs,
        BatchSize = s.BatchSize,
        LearningRate = s.LearningRate,
        Device = s.Device,
        Seed = s.Seed,
        ValidationFraction = s.ValidationFraction,
        CancellationToken = ct,
    };
}
