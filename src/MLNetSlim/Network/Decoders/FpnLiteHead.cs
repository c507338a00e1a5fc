using MLNetSlim.Architecture;
using MLNetSlim.Nn;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetSlim.Network.Decoders;

/// <summary>
/// A slimmable FPN-lite per-pixel decoder head (after the semantic-segmentation branch of Panoptic FPN, Kirillov et al.,
/// CVPR 2019, and the top-down pathway of FPN, Lin et al., CVPR 2017; see docs/method.md). With D' = round(w_t x D)
/// pyramid channels at the task's width w_t:
/// <list type="number">
/// <item>a 1x1 lateral conv (with bias) maps the decoder's top feature (N, C_top', h, w) to D' channels;</item>
/// <item>top-down, for each skip (an encoder stage output, coarse to fine): the running map is upsampled (bilinear) to
/// the skip's size and added to the skip's own 1x1 lateral conv (C_s' -> D');</item>
/// <item>one 3x3 conv D' -> D', batch norm (context (encoder option, decoder width)), ReLU at the finest level;</item>
/// <item>a 1x1 predictor conv (with bias) D' -> K, then bilinear upsampling to the input size (N, K, H, W).</item>
/// </list>
/// Every conv is slimmable: its input is whatever the encoder option and the task width made active. MACs: the four
/// kinds of conv (C_out' x C_in' x k x k x H' x W'); additions and upsampling are not counted, as elsewhere.
/// </summary>
public sealed class FpnLiteHead : TaskHead
{
    private readonly SlimmableConv2d _topLateral;
    private readonly SlimmableConv2d[] _skipLaterals;
    private readonly SlimmableConv2d _smooth;
    private readonly SlimmableBatchNorm2d _smoothBn;
    private readonly SlimmableConv2d _predictor;
    private readonly int[] _skipStages;

    /// <summary>Creates the head.</summary>
    /// <param name="inChannels">Full channels of the decoder's top feature.</param>
    /// <param name="skipStages">Encoder stage indices whose outputs are skip connections, coarse to fine.</param>
    /// <param name="skipChannels">Full channels of each skip stage.</param>
    /// <param name="pyramidChannels">Full pyramid channels D.</param>
    /// <param name="outputs">Output channels K.</param>
    /// <param name="contexts">Batch-norm contexts (the decoder's).</param>
    public FpnLiteHead(int inChannels, int[] skipStages, int[] skipChannels, int pyramidChannels, int outputs, int contexts) : base("fpn_lite_head")
    {
        if (skipStages.Length != skipChannels.Length)
            throw new ArgumentException($"{skipStages.Length} skip stages but {skipChannels.Length} skip channel counts.");
        if (pyramidChannels < 1 || outputs < 1) throw new ArgumentException($"Invalid FPN-lite head: D = {pyramidChannels}, K = {outputs}.");
        PyramidChannels = pyramidChannels;
        Outputs = outputs;
        _skipStages = skipStages.ToArray();
        _topLateral = new SlimmableConv2d(inChannels, pyramidChannels, 1, withBias: true, name: "lateral_top");
        _skipLaterals = skipChannels.Select((c, i) => new SlimmableConv2d(c, pyramidChannels, 1, withBias: true, name: $"lateral{i}")).ToArray();
        _smooth = new SlimmableConv2d(pyramidChannels, pyramidChannels, 3, 1, 1, name: "smooth");
        _smoothBn = new SlimmableBatchNorm2d(pyramidChannels, contexts, name: "smooth_bn");
        _predictor = new SlimmableConv2d(pyramidChannels, outputs, 1, withBias: true, name: "predictor");
        register_module("lateral_top", _topLateral);
        for (int i = 0; i < _skipLaterals.Length; i++) register_module($"lateral{i}", _skipLaterals[i]);
        register_module("smooth", _smooth);
        register_module("smooth_bn", _smoothBn);
        register_module("predictor", _predictor);
    }

    /// <summary>Full pyramid channels D.</summary>
    public int PyramidChannels { get; }

    /// <summary>Output channels K.</summary>
    public int Outputs { get; }

    /// <summary>Encoder stages used as skip connections, coarse to fine.</summary>
    public IReadOnlyList<int> SkipStages => _skipStages;

    /// <summary>
    /// Sets every output channel's predictor bias to <paramref name="value"/> (the Training layer sets a depth head's
    /// bias to the mean training label before training starts: see docs/method.md, "Per-pixel losses and metrics").
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="value"/> is not finite.</exception>
    internal void SetPredictorBias(double value)
    {
        if (!double.IsFinite(value)) throw new ArgumentException($"{GetName()}: predictor bias {value} is not finite.", nameof(value));
        _predictor.SetBias(value);
    }

    /// <summary>Without the encoder features the head runs only when it has no skips, at full width and batch-norm
    /// context 0; otherwise use the overload that takes them.</summary>
    /// <exception cref="InvalidOperationException">The head has skip connections.</exception>
    public override Tensor forward(Tensor features, int inputHeight, int inputWidth) =>
        _skipStages.Length == 0
            ? forward(features, Array.Empty<Tensor>(), 1.0, 0, inputHeight, inputWidth)
            : throw new InvalidOperationException("The FPN-lite head needs the encoder's stage outputs; call the overload that takes them.");

    /// <inheritdoc />
    public override Tensor forward(Tensor features, IReadOnlyList<Tensor> encoderFeatures, double width, int context, int inputHeight, int inputWidth)
    {
        using var scope = NewDisposeScope();
        int d = WidthSet.ActiveChannels(PyramidChannels, width);
        Tensor p = _topLateral.forward(features, d);
        foreach ((SlimmableConv2d lateral, int stage) in _skipLaterals.Zip(_skipStages))
        {
            Tensor skip = encoderFeatures[stage];
            Tensor up = nn.functional.interpolate(p, new long[] { skip.shape[2], skip.shape[3] }, mode: InterpolationMode.Bilinear, align_corners: false);
            p = up + lateral.forward(skip, d);
        }
        Tensor smoothed = nn.functional.relu(_smoothBn.forward(_smooth.forward(p, d), context));
        Tensor logits = _predictor.forward(smoothed, Outputs);
        return nn.functional.interpolate(logits, new long[] { inputHeight, inputWidth }, mode: InterpolationMode.Bilinear, align_corners: false)
            .MoveToOuterDisposeScope();
    }

    /// <summary>The head needs the encoder's stage outputs: use the overload that takes them.</summary>
    /// <exception cref="NotSupportedException">The head has skip connections.</exception>
    public override string AppendTo(IInferenceGraphBuilder graph, string name, string input, int inChannels, int inputHeight, int inputWidth) =>
        _skipStages.Length == 0
            ? AppendTo(graph, name, input, inChannels, Array.Empty<EncoderFeature>(), 1.0, 0, inputHeight, inputWidth)
            : throw new NotSupportedException("The FPN-lite head reads the encoder's stage outputs; export the whole network (MultiTaskNetwork.AppendTo), not the decoder alone.");

    /// <inheritdoc />
    public override string AppendTo(IInferenceGraphBuilder graph, string name, string input, int inChannels,
        IReadOnlyList<EncoderFeature> encoderFeatures, double width, int context, int inputHeight, int inputWidth)
    {
        ArgumentNullException.ThrowIfNull(graph);
        int d = WidthSet.ActiveChannels(PyramidChannels, width);
        string p = _topLateral.AppendTo(graph, $"{name}.lateral_top", input, inChannels, d, null, 0);
        for (int i = 0; i < _skipLaterals.Length; i++)
        {
            EncoderFeature skip = encoderFeatures[_skipStages[i]];
            string up = graph.ResizeBilinear(p, skip.Height, skip.Width);
            p = graph.Add(up, _skipLaterals[i].AppendTo(graph, $"{name}.lateral{i}", skip.Value, skip.Channels, d, null, 0));
        }
        string smoothed = graph.Relu(_smooth.AppendTo(graph, $"{name}.smooth", p, d, d, _smoothBn, context));
        string logits = _predictor.AppendTo(graph, $"{name}.predictor", smoothed, d, Outputs, null, 0);
        return graph.ResizeBilinear(logits, inputHeight, inputWidth);
    }

    /// <inheritdoc />
    public override long Macs(int inActive, int height, int width) =>
        _skipStages.Length == 0 ? Macs(inActive, height, width, Array.Empty<(int, int, int)>(), 1.0)
            : throw new InvalidOperationException("The FPN-lite head's MACs depend on the encoder's stage outputs; call the overload that takes them.");

    /// <inheritdoc />
    public override long Macs(int inActive, int height, int width, IReadOnlyList<(int Channels, int Height, int Width)> encoderFeatures, double widthMultiplier)
    {
        int d = WidthSet.ActiveChannels(PyramidChannels, widthMultiplier);
        long macs = _topLateral.Macs(inActive, d, height, width);
        int h = height, w = width;
        foreach ((SlimmableConv2d lateral, int stage) in _skipLaterals.Zip(_skipStages))
        {
            (int c, h, w) = encoderFeatures[stage];
            macs += lateral.Macs(c, d, h, w);
        }
        return macs + _smooth.Macs(d, d, h, w) + _predictor.Macs(d, Outputs, h, w);
    }
}
