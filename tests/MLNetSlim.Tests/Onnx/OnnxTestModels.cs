using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.Network;
using MLNetSlim.Network.Backbones;
using MLNetSlim.Nn;
using MLNetSlim.Training;
using static TorchSharp.torch;
using MLNetSlim.Architecture;
using MLNetSlim.Model;

namespace MLNetSlim.Tests.Onnx;

/// <summary>
/// Tiny networks for the export tests: random weights, random batch-norm affine parameters and batch-norm
/// post-statistics on random images, so every context has its own statistics and a wrong context, a missed slice or a
/// wrong fold shows in the outputs. No training: built in well under a second.
/// </summary>
internal static class OnnxTestModels
{
    public const int C = 2, H = 12, W = 12, Size = C * H * W;

    public static readonly TaskDefinition[] Tasks =
    {
        new("shape", TaskKind.Classification, 3, new[] { "circle", "square", "triangle" }),
        new("size", TaskKind.Classification, 2, new[] { "small", "large" }),
    };

    public static BackboneOptions SmallConvNet() => new() { Kind = BackboneKind.SmallConvNet, StageChannels = [8, 16, 16], StageDepths = [1, 2, 2] };

    /// <summary>Stem 8, then stages of 8, 16, 16 channels; the first stage has two blocks, so both the projection and
    /// the identity shortcut are exported.</summary>
    public static BackboneOptions ResNet() => new() { Kind = BackboneKind.ResNet, StemChannels = 8, StageChannels = [8, 16, 16], StageDepths = [2, 1, 1] };

    /// <summary>The four configurations of the parity tests: full, smallest and two mixed ones.</summary>
    public static readonly WidthConfiguration[] Configurations =
    {
        WidthConfiguration.Uniform(1.0, 2),
        WidthConfiguration.Uniform(0.25, 2),
        new(0.5, 1.0, 0.25),
        new(0.75, 0.25, 0.5),
    };

    public static float[] RandomImages(int count, int seed)
    {
        var rng = new Random(seed);
        // Per-image brightness and contrast, so batch statistics are not those of a standard normal.
        var x = new float[count * Size];
        for (int i = 0; i < count; i++)
        {
            double offset = rng.NextDouble(), scale = 0.5 + rng.NextDouble();
            for (int j = 0; j < Size; j++) x[i * Size + j] = (float)(offset + scale * rng.NextDouble());
        }
        return x;
    }

    public static MultiTaskNetwork Network(BackboneOptions backbone, int seed, TaskDefinition[]? tasks = null, double[]? decoderWidths = null)
    {
        tasks ??= Tasks;
        manual_seed(seed);
        var network = new MultiTaskNetwork(new NetworkOptions { Tasks = tasks, Channels = C, Height = H, Width = W, Backbone = backbone, DecoderWidths = decoderWidths });
        using (no_grad())
            foreach ((string name, TorchSharp.Modules.Parameter p) in network.named_parameters())
                if (name.Contains("bn", StringComparison.Ordinal))
                {
                    // gamma in [0.5, 1.5], beta in [-0.5, 0.5]: folding must use both.
                    if (name.EndsWith(".weight", StringComparison.Ordinal)) p.uniform_(0.5, 1.5);
                    else p.uniform_(-0.5, 0.5);
                }
        var labels = tasks.Select((t, i) => t.IsPerPixel ? [] : Enumerable.Range(0, 64).Select(n => (n + i) % t.NumClasses).ToArray()).ToArray();
        // Per-pixel tasks: class-index maps (segmentation) cycling over the classes; post-statistics read only the images.
        float[]?[] maps = tasks.Select(t => t.IsPerPixel
            ? Enumerable.Range(0, 64 * MultiTaskDataset.PixelLabelChannels(t) * H * W).Select(j => (float)(j % Math.Max(1, t.NumClasses))).ToArray()
            : null).ToArray();
        var data = new MultiTaskDataset(RandomImages(64, seed + 1), C, H, W, tasks, labels, maps);
        BatchNormPostStatistics.Compute(network, data, 64, 32, CPU);
        network.eval();
        return network;
    }

    /// <summary>A model with a made-up calibration table (better with width), enough for the search to choose.</summary>
    public static ControllableMultiTaskModel Model(BackboneOptions backbone, int seed, double[]? decoderWidths = null)
    {
        MultiTaskNetwork network = Network(backbone, seed, decoderWidths: decoderWidths);
        CalibrationTable calibration = CalibrationTable.Calibrate(network.CostTable, new[] { true, true },
            (e, d) => new[] { 0.5 + 0.1 * e + 0.05 * d, 0.6 + 0.05 * e + 0.08 * d });
        return ControllableMultiTaskModel.FromNetwork(network, calibration);
    }
}
