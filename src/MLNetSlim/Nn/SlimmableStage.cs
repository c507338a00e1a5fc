using TorchSharp;
using static TorchSharp.torch;

namespace MLNetSlim.Nn;

/// <summary>
/// One stage of a slimmable backbone: a block of layers that maps (N, C_in', H, W) to (N, C_out', H', W') with its
/// output width chosen at run time. A backbone is a list of stages; the first ones form the shared encoder and the rest
/// are copied into every task decoder.
/// </summary>
public abstract class SlimmableStage : nn.Module
{
    /// <summary>Creates the stage.</summary>
    protected SlimmableStage(string name) : base(name) { }

    /// <summary>Full input channels.</summary>
    public abstract int InChannels { get; }

    /// <summary>Full output channels.</summary>
    public abstract int OutChannels { get; }

    /// <summary>Runs the stage with <paramref name="outChannels"/> active output channels and batch-norm context
    /// <paramref name="context"/>.</summary>
    public abstract Tensor forward(Tensor input, int outChannels, int context);

    /// <summary>
    /// Adds the stage at <paramref name="inChannels"/> -&gt; <paramref name="outChannels"/> active channels and
    /// batch-norm context <paramref name="context"/> to an inference graph: weights sliced, batch norm folded into the
    /// convolutions (see <see cref="IInferenceGraphBuilder"/>). Must compute what <see cref="forward"/> computes in eval
    /// mode. The default throws: a custom stage overrides it to be exportable (e.g. to ONNX).
    /// </summary>
    /// <param name="graph">The graph.</param>
    /// <param name="name">Name prefix of the stage's layers.</param>
    /// <param name="input">The input value, (N, inChannels, H, W).</param>
    /// <param name="inChannels">Active input channels.</param>
    /// <param name="outChannels">Active output channels.</param>
    /// <param name="context">Batch-norm context.</param>
    /// <returns>The output value.</returns>
    /// <exception cref="NotSupportedException">The stage does not support export.</exception>
    public virtual string AppendTo(IInferenceGraphBuilder graph, string name, string input, int inChannels, int outChannels, int context) =>
        throw new NotSupportedException($"Stage '{GetName()}' ({GetType().Name}) cannot be exported: it does not override SlimmableStage.AppendTo.");

    /// <summary>
    /// Runs the stage at several widths on one input, calling <paramref name="visit"/>(i, output) with the output at
    /// (<paramref name="outChannels"/>[i], <paramref name="contexts"/>[i]); each output is disposed after its call.
    /// Equal to calling <see cref="forward"/> once per width; a stage may share work across the widths (a
    /// <see cref="ConvStage"/> computes its first convolution once, at the widest, and slices its output channels).
    /// </summary>
    internal virtual void ForwardEveryWidth(Tensor input, IReadOnlyList<int> outChannels, IReadOnlyList<int> contexts, Action<int, Tensor> visit)
    {
        for (int i = 0; i < outChannels.Count; i++)
        {
            using Tensor y = forward(input, outChannels[i], contexts[i]);
            visit(i, y);
        }
    }

    /// <summary>Output spatial size (H', W') for an input of (H, W).</summary>
    public abstract (int Height, int Width) OutputSize(int height, int width);

    /// <summary>Exact multiply-accumulates of the stage for one image (conv and linear layers only).</summary>
    public abstract long Macs(int inActive, int outActive, int height, int width);
}

/// <summary>
/// A plain convolutional stage: <c>n</c> x (3x3 conv, batch norm, ReLU), then 2x2 max pooling when
/// <c>pool</c> is set. The building block of <see cref="Network.Backbones.SmallConvNet"/>.
/// </summary>
public sealed class ConvStage : SlimmableStage
{
    private readonly SlimmableConv2d[] _convs;
    private readonly SlimmableBatchNorm2d[] _bns;
    private readonly bool _pool;

    /// <summary>Creates the stage.</summary>
    /// <param name="inChannels">Full input channels.</param>
    /// <param name="outChannels">Full output channels.</param>
    /// <param name="convs">Number of 3x3 conv layers (at least 1).</param>
    /// <param name="pool">Whether a 2x2 max pooling ends the stage.</param>
    /// <param name="contexts">Batch-norm contexts (see <see cref="SlimmableBatchNorm2d"/>).</param>
    /// <param name="name">Module name.</param>
    public ConvStage(int inChannels, int outChannels, int convs, bool pool, int contexts, string name = "stage") : base(name)
    {
        if (convs < 1) throw new ArgumentOutOfRangeException(nameof(convs), convs, "A conv stage needs at least one conv layer.");
        InChannels = inChannels;
        OutChannels = outChannels;
        _pool = pool;
        _convs = Enumerable.Range(0, convs).Select(i => new SlimmableConv2d(i == 0 ? inChannels : outChannels, outChannels, 3, 1, 1, name: $"conv{i}")).ToArray();
        _bns = Enumerable.Range(0, convs).Select(i => new SlimmableBatchNorm2d(outChannels, contexts, name: $"bn{i}")).ToArray();
        for (int i = 0; i < convs; i++)
        {
            register_module($"conv{i}", _convs[i]);
            register_module($"bn{i}", _bns[i]);
        }
    }

    /// <inheritdoc />
    public override int InChannels { get; }

    /// <inheritdoc />
    public override int OutChannels { get; }

    /// <inheritdoc />
    public override Tensor forward(Tensor input, int outChannels, int context)
    {
        Tensor x = input;
        for (int i = 0; i < _convs.Length; i++)
        {
            using Tensor c = _convs[i].forward(x, outChannels);
            using Tensor b = _bns[i].forward(c, context);
            Tensor r = nn.functional.relu(b);
            if (!ReferenceEquals(x, input)) x.Dispose();
            x = r;
        }
        if (!_pool) return x;
        Tensor pooled = nn.functional.max_pool2d(x, 2);
        x.Dispose();
        return pooled;
    }

    /// <summary>The first convolution's output channels do not depend on the width (a slimmable convolution's output
    /// channel k reads the same weights at every width), so it runs once at the widest and each width takes its leading
    /// channels; batch norm (per context), ReLU and the rest run per width. Output channels of a convolution are
    /// independent sums, so this equals <see cref="forward"/> at each width up to the order of floating-point operations
    /// inside the convolution kernel.</summary>
    internal override void ForwardEveryWidth(Tensor input, IReadOnlyList<int> outChannels, IReadOnlyList<int> contexts, Action<int, Tensor> visit)
    {
        if (outChannels.Count < 2)
        {
            base.ForwardEveryWidth(input, outChannels, contexts, visit);
            return;
        }
        using Tensor widest = _convs[0].forward(input, outChannels.Max());
        for (int w = 0; w < outChannels.Count; w++)
        {
            using var scope = NewDisposeScope();
            Tensor x = nn.functional.relu(_bns[0].forward(widest.narrow(1, 0, outChannels[w]), contexts[w]));
            for (int i = 1; i < _convs.Length; i++)
                x = nn.functional.relu(_bns[i].forward(_convs[i].forward(x, outChannels[w]), contexts[w]));
            if (_pool) x = nn.functional.max_pool2d(x, 2);
            visit(w, x);
        }
    }

    /// <inheritdoc />
    public override string AppendTo(IInferenceGraphBuilder graph, string name, string input, int inChannels, int outChannels, int context)
    {
        string x = input;
        for (int i = 0; i < _convs.Length; i++)
        {
            x = _convs[i].AppendTo(graph, $"{name}.conv{i}", x, i == 0 ? inChannels : outChannels, outChannels, _bns[i], context);
            x = graph.Relu(x);
        }
        return _pool ? graph.MaxPool2d(x, 2) : x;
    }

    /// <inheritdoc />
    public override (int Height, int Width) OutputSize(int height, int width) => _pool ? (height / 2, width / 2) : (height, width);

    /// <inheritdoc />
    public override long Macs(int inActive, int outActive, int height, int width)
    {
        long macs = 0;
        for (int i = 0; i < _convs.Length; i++)
            macs += _convs[i].Macs(i == 0 ? inActive : outActive, outActive, height, width);
        return macs;
    }
}
