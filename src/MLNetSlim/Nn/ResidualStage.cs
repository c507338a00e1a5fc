using TorchSharp;
using static TorchSharp.torch;

namespace MLNetSlim.Nn;

/// <summary>
/// A slimmable ResNet stage of basic blocks (He et al., "Deep Residual Learning", CVPR 2016): each block is
/// conv3x3-BN-ReLU-conv3x3-BN plus a shortcut, then ReLU. The first block of the stage applies the stride and always
/// uses a 1x1 conv + BN projection shortcut, so the stage works whatever width the previous stage ran at.
/// </summary>
public sealed class ResidualStage : SlimmableStage
{
    private readonly BasicBlock[] _blocks;

    /// <summary>Creates the stage.</summary>
    /// <param name="inChannels">Full input channels.</param>
    /// <param name="outChannels">Full output channels.</param>
    /// <param name="blocks">Number of basic blocks (depth), at least 1.</param>
    /// <param name="stride">Stride of the first block (1 or 2).</param>
    /// <param name="contexts">Batch-norm contexts.</param>
    /// <param name="name">Module name.</param>
    public ResidualStage(int inChannels, int outChannels, int blocks, int stride, int contexts, string name = "stage") : base(name)
    {
        if (blocks < 1) throw new ArgumentOutOfRangeException(nameof(blocks), blocks, "A residual stage needs at least one block.");
        InChannels = inChannels;
        OutChannels = outChannels;
        _blocks = Enumerable.Range(0, blocks)
            .Select(i => new BasicBlock(i == 0 ? inChannels : outChannels, outChannels, i == 0 ? stride : 1, projection: i == 0, contexts, $"block{i}"))
            .ToArray();
        for (int i = 0; i < blocks; i++) register_module($"block{i}", _blocks[i]);
    }

    /// <inheritdoc />
    public override int InChannels { get; }

    /// <inheritdoc />
    public override int OutChannels { get; }

    /// <inheritdoc />
    public override Tensor forward(Tensor input, int outChannels, int context)
    {
        Tensor x = input;
        foreach (BasicBlock block in _blocks)
        {
            Tensor y = block.forward(x, outChannels, context);
            if (!ReferenceEquals(x, input)) x.Dispose();
            x = y;
        }
        return x;
    }

    /// <inheritdoc />
    public override string AppendTo(IInferenceGraphBuilder graph, string name, string input, int inChannels, int outChannels, int context)
    {
        string x = input;
        int c = inChannels;
        for (int i = 0; i < _blocks.Length; i++)
        {
            x = _blocks[i].AppendTo(graph, $"{name}.block{i}", x, c, outChannels, context);
            c = outChannels;
        }
        return x;
    }

    /// <inheritdoc />
    public override (int Height, int Width) OutputSize(int height, int width)
    {
        foreach (BasicBlock b in _blocks) (height, width) = (b.Conv1.OutputSize(height), b.Conv1.OutputSize(width));
        return (height, width);
    }

    /// <inheritdoc />
    public override long Macs(int inActive, int outActive, int height, int width)
    {
        long macs = 0;
        int c = inActive;
        foreach (BasicBlock b in _blocks)
        {
            macs += b.Macs(c, outActive, height, width);
            (height, width) = (b.Conv1.OutputSize(height), b.Conv1.OutputSize(width));
            c = outActive;
        }
        return macs;
    }

    private sealed class BasicBlock : nn.Module
    {
        private readonly SlimmableBatchNorm2d _bn1, _bn2;
        private readonly SlimmableConv2d? _shortcut;
        private readonly SlimmableBatchNorm2d? _shortcutBn;

        public BasicBlock(int inChannels, int outChannels, int stride, bool projection, int contexts, string name) : base(name)
        {
            Conv1 = new SlimmableConv2d(inChannels, outChannels, 3, stride, 1, name: "conv1");
            _bn1 = new SlimmableBatchNorm2d(outChannels, contexts, name: "bn1");
            Conv2 = new SlimmableConv2d(outChannels, outChannels, 3, 1, 1, name: "conv2");
            _bn2 = new SlimmableBatchNorm2d(outChannels, contexts, name: "bn2");
            register_module("conv1", Conv1);
            register_module("bn1", _bn1);
            register_module("conv2", Conv2);
            register_module("bn2", _bn2);
            if (projection)
            {
                _shortcut = new SlimmableConv2d(inChannels, outChannels, 1, stride, 0, name: "shortcut");
                _shortcutBn = new SlimmableBatchNorm2d(outChannels, contexts, name: "shortcut_bn");
                register_module("shortcut", _shortcut);
                register_module("shortcut_bn", _shortcutBn);
            }
        }

        public SlimmableConv2d Conv1 { get; }

        public SlimmableConv2d Conv2 { get; }

        public Tensor forward(Tensor x, int outChannels, int context)
        {
            using var scope = NewDisposeScope();
            Tensor h = nn.functional.relu(_bn1.forward(Conv1.forward(x, outChannels), context));
            h = _bn2.forward(Conv2.forward(h, outChannels), context);
            Tensor skip = _shortcut is null ? x : _shortcutBn!.forward(_shortcut.forward(x, outChannels), context);
            return nn.functional.relu(h + skip).MoveToOuterDisposeScope();
        }

        public string AppendTo(IInferenceGraphBuilder graph, string name, string x, int inActive, int outActive, int context)
        {
            string h = graph.Relu(Conv1.AppendTo(graph, name + ".conv1", x, inActive, outActive, _bn1, context));
            h = Conv2.AppendTo(graph, name + ".conv2", h, outActive, outActive, _bn2, context);
            string skip = _shortcut is null ? x : _shortcut.AppendTo(graph, name + ".shortcut", x, inActive, outActive, _shortcutBn, context);
            return graph.Relu(graph.Add(h, skip));
        }

        public long Macs(int inActive, int outActive, int height, int width)
        {
            int h2 = Conv1.OutputSize(height), w2 = Conv1.OutputSize(width);
            long macs = Conv1.Macs(inActive, outActive, height, width) + Conv2.Macs(outActive, outActive, h2, w2);
            if (_shortcut is not null) macs += _shortcut.Macs(inActive, outActive, height, width);
            return macs;
        }
    }
}
