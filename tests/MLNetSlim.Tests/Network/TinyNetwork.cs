using MLNetSlim.Architecture;
using MLNetSlim.Data;
using MLNetSlim.Network;
using MLNetSlim.Network.Backbones;
using MLNetSlim.Training;
using static TorchSharp.torch;

namespace MLNetSlim.Tests.Network;

/// <summary>An untrained network on 1x8x8 images with two classification tasks, random images for it and its raw
/// outputs: small enough to build several times in one test (post-statistics, evaluator, sampler tests).</summary>
internal static class TinyNetwork
{
    public const int C = 1, H = 8, W = 8, Size = C * H * W;

    /// <summary>Task "a" with 3 classes and task "b" with <paramref name="classesOfB"/>.</summary>
    public static TaskDefinition[] Tasks(int classesOfB) =>
        [new("a", TaskKind.Classification, 3), new("b", TaskKind.Classification, classesOfB)];

    /// <summary>A network for <paramref name="tasks"/> with the three-stage backbone 4, 8, 8 (depth 1 each, or
    /// <paramref name="stageDepths"/>) and the default widths (decoders on <paramref name="decoderWidths"/> when given).</summary>
    public static MultiTaskNetwork Create(TaskDefinition[] tasks, int seed, int[]? stageDepths = null, double[]? decoderWidths = null) =>
        SupernetTrainer.CreateNetwork(new NetworkOptions
        {
            Tasks = tasks,
            Channels = C,
            Height = H,
            Width = W,
            Backbone = new BackboneOptions { StageChannels = [4, 8, 8], StageDepths = stageDepths ?? [1, 1, 1] },
            DecoderWidths = decoderWidths,
        }, seed);

    /// <summary><paramref name="n"/> images of uniform random pixels drawn from <paramref name="rng"/>.</summary>
    public static float[] Images(Random rng, int n) => Enumerable.Range(0, n * Size).Select(_ => (float)rng.NextDouble()).ToArray();

    /// <summary><paramref name="n"/> random images (seed 3) for <paramref name="tasks"/>; row i has label i modulo the
    /// task's class count for every task.</summary>
    public static MultiTaskDataset Data(TaskDefinition[] tasks, int n)
    {
        float[] images = Images(new Random(3), n);
        return new MultiTaskDataset(images, C, H, W, tasks,
            tasks.Select(t => Enumerable.Range(0, n).Select(i => i % t.NumClasses).ToArray()).ToArray());
    }

    /// <summary>Every task's output on all of <paramref name="data"/> at <paramref name="c"/> in eval mode, flattened.</summary>
    public static float[] Outputs(MultiTaskNetwork net, MultiTaskDataset data, WidthConfiguration c)
    {
        net.eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        Tensor x = tensor(data.Images, [data.Count, C, H, W]);
        using MultiTaskOutput o = net.forward(x, c);
        return o.TaskOutputs.SelectMany(t => t.data<float>().ToArray()).ToArray();
    }
}
