using MLNetSlim.Nn;
using TorchSharp;
using static TorchSharp.torch;
using MLNetSlim.Architecture;

namespace MLNetSlim.Network.Decoders;

/// <summary>
/// The last part of a task decoder: maps the decoder's feature map (N, C', h, w) to the task's output. Per-image
/// tasks produce (N, K); per-pixel tasks produce (N, K, H, W) at the input resolution.
/// </summary>
public abstract class TaskHead : nn.Module
{
    /// <summary>Creates the head.</summary>
    protected TaskHead(string name) : base(name) { }

    /// <summary>Runs the head on (N, C', h, w) features for an input of <paramref name="inputHeight"/> x
    /// <paramref name="inputWidth"/> pixels.</summary>
    public abstract Tensor forward(Tensor features, int inputHeight, int inputWidth);

    /// <summary>Exact multiply-accumulates for one image with <paramref name="inActive"/> input channels at h x w.</summary>
    public abstract long Macs(int inActive, int height, int width);

    /// <summary>
    /// Adds the head, reading <paramref name="inChannels"/> active channels, to an inference graph (what
    /// <c>forward</c> computes). The default throws: a custom head overrides it to be exportable.
    /// </summary>
    /// <returns>The logits value: (N, K) or (N, K, H, W).</returns>
    /// <exception cref="NotSupportedException">The head does not support export.</exception>
    public virtual string AppendTo(IInferenceGraphBuilder graph, string name, string input, int inChannels, int inputHeight, int inputWidth) =>
        throw new NotSupportedException($"Head '{GetName()}' ({GetType().Name}) cannot be exported: it does not override TaskHead.AppendTo.");

    /// <summary>
    /// Adds the head to an inference graph with access to the encoder's stage outputs (graph value and active shape
    /// (C', H, W) of each; the last is the encoder output) at the task's width multiplier <paramref name="width"/> and
    /// batch-norm context <paramref name="context"/>: what the skip-aware <c>forward</c> computes. The default ignores
    /// them and calls the overload without them.
    /// </summary>
    /// <returns>The logits value: (N, K) or (N, K, H, W).</returns>
    /// <exception cref="NotSupportedException">The head does not support export.</exception>
    public virtual string AppendTo(IInferenceGraphBuilder graph, string name, string input, int inChannels,
        IReadOnlyList<EncoderFeature> encoderFeatures, double width, int context, int inputHeight, int inputWidth) =>
        AppendTo(graph, name, input, inChannels, inputHeight, inputWidth);

    /// <summary>
    /// Runs the head with access to the encoder's stage outputs (N, C_s', H_s, W_s) as skip connections. The default
    /// ignores them; a per-pixel decoder (<see cref="FpnLiteHead"/>) merges them. <paramref name="width"/> is the task's
    /// width multiplier and <paramref name="context"/> its batch-norm context.
    /// </summary>
    public virtual Tensor forward(Tensor features, IReadOnlyList<Tensor> encoderFeatures, double width, int context, int inputHeight, int inputWidth) =>
        forward(features, inputHeight, inputWidth);

    /// <summary>Exact multiply-accumulates for one image, given the active shapes (C', H, W) of the encoder's stage
    /// outputs and the task's width multiplier. The default ignores them.</summary>
    public virtual long Macs(int inActive, int height, int width, IReadOnlyList<(int Channels, int Height, int Width)> encoderFeatures, double widthMultiplier) =>
        Macs(inActive, height, width);

    /// <summary>Creates the head for <paramref name="task"/>: a classification head, or an FPN-lite per-pixel decoder
    /// (<see cref="FpnLiteHead"/>) for the per-pixel kinds.</summary>
    public static TaskHead Create(TaskDefinition task, int inChannels) => task.Kind switch
    {
        TaskKind.Classification => new ClassificationHead(inChannels, task.NumClasses),
        TaskKind.Segmentation => new SegmentationHead(inChannels, task.NumClasses),
        _ => throw new ArgumentException($"Task '{task.Name}' has unknown kind {task.Kind}."),
    };

    /// <summary>Creates the head of <paramref name="task"/> inside a network: per-pixel tasks get an
    /// <see cref="FpnLiteHead"/> over the decoder's top feature and the given encoder skip stages.</summary>
    internal static TaskHead Create(TaskDefinition task, int inChannels, int[] skipStages, int[] skipChannels, int pyramidChannels, int contexts) =>
        task.IsPerPixel
            ? new FpnLiteHead(inChannels, skipStages, skipChannels, pyramidChannels, task.OutputChannels, contexts)
            : Create(task, inChannels);
}

/// <summary>Global average pooling, then a slimmable linear layer: (N, C', h, w) to (N, K) logits.</summary>
public sealed class ClassificationHead : TaskHead
{
    private readonly SlimmableLinear _fc;

    /// <summary>Creates the head.</summary>
    public ClassificationHead(int inChannels, int numClasses) : base("classification_head")
    {
        _fc = new SlimmableLinear(inChannels, numClasses, "fc");
        register_module("fc", _fc);
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor features, int inputHeight, int inputWidth)
    {
        using Tensor pooled = features.mean(new long[] { 2, 3 });
        return _fc.forward(pooled);
    }

    /// <inheritdoc />
    public override string AppendTo(IInferenceGraphBuilder graph, string name, string input, int inChannels, int inputHeight, int inputWidth) =>
        _fc.AppendTo(graph, name + ".fc", graph.GlobalAveragePool(input), inChannels);

    /// <inheritdoc />
    public override long Macs(int inActive, int height, int width) => _fc.Macs(inActive);
}

/// <summary>
/// A per-pixel head: 1x1 slimmable conv to K logits, then bilinear upsampling to the input size: (N, C', h, w) to
/// (N, K, H, W). Upsampling is not counted in MACs.
/// </summary>
public sealed class SegmentationHead : TaskHead
{
    private readonly SlimmableConv2d _classifier;

    /// <summary>Creates the head.</summary>
    public SegmentationHead(int inChannels, int numClasses) : base("segmentation_head")
    {
        NumClasses = numClasses;
        _classifier = new SlimmableConv2d(inChannels, numClasses, 1, withBias: true, name: "classifier");
        register_module("classifier", _classifier);
    }

    /// <summary>K.</summary>
    public int NumClasses { get; }

    /// <inheritdoc />
    public override Tensor forward(Tensor features, int inputHeight, int inputWidth)
    {
        using Tensor logits = _classifier.forward(features, NumClasses);
        return nn.functional.interpolate(logits, new long[] { inputHeight, inputWidth }, mode: InterpolationMode.Bilinear, align_corners: false);
    }

    /// <inheritdoc />
    public override string AppendTo(IInferenceGraphBuilder graph, string name, string input, int inChannels, int inputHeight, int inputWidth) =>
        graph.ResizeBilinear(_classifier.AppendTo(graph, name + ".classifier", input, inChannels, NumClasses, null, 0), inputHeight, inputWidth);

    /// <inheritdoc />
    public override long Macs(int inActive, int height, int width) => _classifier.Macs(inActive, NumClasses, height, width);
}
