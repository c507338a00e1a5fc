using MLNetSlim.Network.Decoders;
using MLNetSlim.Nn;
using TorchSharp;
using static TorchSharp.torch;
using MLNetSlim.Architecture;

namespace MLNetSlim.Network;

/// <summary>
/// The slimmable multi-task network of ECMT (ICCV 2023, Sec. 3): a shared slimmable encoder and one slimmable decoder
/// per task. At width configuration c = (w_enc, w_1 .. w_T) the encoder runs its stages at w_enc (one multiplier, or one
/// per stage) and decoder t reads the leading channels of the encoder's active output and runs at w_t. Every layer owns
/// full-width weights and runs on leading channels (Yu et al., ICLR 2019).
/// Input (N, C, H, W) float32; outputs per task (N, K) or (N, K, H, W).
/// </summary>
public sealed class MultiTaskNetwork : nn.Module
{
    private readonly SlimmableStage[] _encoder;
    private readonly TaskDecoder[] _decoders;
    private readonly WidthSet _encoderWidths;
    private readonly WidthSet _decoderWidths; // decoder width indices index it
    private readonly CostTable _costs;

    /// <summary>Builds the network with freshly initialised weights (seed torch first for reproducibility).</summary>
    /// <exception cref="ArgumentException">Invalid options (see <see cref="NetworkOptions.Validate"/>).</exception>
    public MultiTaskNetwork(NetworkOptions options) : base("MultiTaskNetwork")
    {
        options.Validate();
        Options = options;
        _encoderWidths = options.EncoderWidthSet();
        _decoderWidths = options.DecoderWidthSet();
        var b = options.Backbone;
        int encoderStages = b.EncoderStageCount;
        EncoderOptions = EnumerateEncoderOptions(_encoderWidths, encoderStages, options.PerStageEncoderWidths);
        int encoderContexts = EncoderOptions.Count;
        int decoderContexts = encoderContexts * _decoderWidths.Count;

        _encoder = new SlimmableStage[encoderStages];
        int channels = options.Channels;
        for (int s = 0; s < encoderStages; s++)
        {
            _encoder[s] = b.CreateStage(s, channels, encoderContexts, $"encoder_stage{s}");
            channels = _encoder[s].OutChannels;
            register_module($"encoder_stage{s}", _encoder[s]);
        }
        int encoderOut = channels;
        _decoders = new TaskDecoder[options.Tasks.Length];
        for (int t = 0; t < _decoders.Length; t++)
        {
            var stages = new List<SlimmableStage>();
            int c = encoderOut;
            for (int s = encoderStages; s < b.StageCount; s++)
            {
                stages.Add(b.CreateStage(s, c, decoderContexts, $"stage{s}"));
                c = stages[^1].OutChannels;
            }
            // Per-pixel heads read the last PyramidSkips encoder stage outputs before the encoder output (coarse to fine).
            int skips = Math.Min(options.PyramidSkips, encoderStages - 1);
            int[] skipStages = Enumerable.Range(0, skips).Select(i => encoderStages - 2 - i).ToArray();
            TaskHead head = TaskHead.Create(options.Tasks[t], c, skipStages, skipStages.Select(s => _encoder[s].OutChannels).ToArray(),
                options.PyramidChannels, decoderContexts);
            _decoders[t] = new TaskDecoder(options.Tasks[t], stages.ToArray(), head);
            register_module($"decoder{t}", _decoders[t]);
        }
        _costs = BuildCostTable();
    }

    /// <summary>The options the network was built from.</summary>
    public NetworkOptions Options { get; }

    /// <summary>The tasks, in decoder order.</summary>
    public IReadOnlyList<TaskDefinition> Tasks => Options.Tasks;

    /// <summary>The encoder width set.</summary>
    public WidthSet EncoderWidths => _encoderWidths;

    /// <summary>The decoder width set (decoder width indices refer to it); equal to <see cref="EncoderWidths"/> unless
    /// <see cref="NetworkOptions.DecoderWidths"/> sets a separate one.</summary>
    public WidthSet DecoderWidths => _decoderWidths;

    /// <summary>Number of stages in the shared encoder.</summary>
    public int EncoderStageCount => _encoder.Length;

    /// <summary>The encoder width vectors this network can run: one multiplier each (uniform) or one per stage.</summary>
    public IReadOnlyList<double[]> EncoderOptions { get; }

    /// <summary>The task decoders.</summary>
    public IReadOnlyList<TaskDecoder> Decoders => _decoders;

    /// <summary>Exact MACs of every configuration at the options' input size (C, H, W).</summary>
    public CostTable CostTable => _costs;

    /// <summary>The full configuration (every multiplier 1.0).</summary>
    public WidthConfiguration FullConfiguration => WidthConfiguration.Uniform(1.0, Tasks.Count);

    /// <summary>The smallest configuration (the encoder at its smallest width, every decoder at the smallest decoder
    /// width).</summary>
    public WidthConfiguration SmallestConfiguration =>
        new([_encoderWidths.Smallest], Enumerable.Repeat(_decoderWidths.Smallest, Tasks.Count));

    /// <summary>Checks <paramref name="configuration"/>'s multipliers against the encoder and decoder width sets and
    /// its counts against the network.</summary>
    /// <exception cref="ArgumentException">It does not fit; the message names the part and the set.</exception>
    public void Validate(WidthConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        configuration.Validate(_encoderWidths, _decoderWidths, Tasks.Count, _encoder.Length);
    }

    /// <summary>
    /// Runs the network at <paramref name="configuration"/> (multipliers): resolves it against <see cref="CostTable"/>
    /// once (validation and index lookup), then runs <see cref="forward(Tensor, ResolvedConfiguration)"/>. Callers
    /// that run one configuration many times resolve it once themselves.
    /// </summary>
    /// <param name="images">(N, C, H, W) float32 on the network's device.</param>
    /// <param name="configuration">The width configuration.</param>
    /// <returns>Encoder stage outputs and per-task outputs; the caller disposes them.</returns>
    /// <exception cref="ArgumentException">Input shape or configuration does not fit the network.</exception>
    public MultiTaskOutput forward(Tensor images, WidthConfiguration configuration) => forward(images, _costs.Resolve(configuration));

    /// <summary>
    /// Runs the network at <paramref name="configuration"/>: the encoder at its encoder option, each decoder at its
    /// width index. No lookup or validation beyond an index range check. In eval mode the forward pass reads the
    /// weights and batch-norm statistics only (no module state changes), so concurrent calls from several threads on
    /// one network are safe (each thread under its own <c>no_grad</c> and dispose scope, which TorchSharp keeps per
    /// thread).
    /// </summary>
    /// <param name="images">(N, C, H, W) float32 on the network's device.</param>
    /// <param name="configuration">Encoder option and decoder width indices of this network's cost table.</param>
    /// <returns>Encoder stage outputs and per-task outputs; the caller disposes them.</returns>
    /// <exception cref="ArgumentException">Input shape does not fit the network, or an index is out of range.</exception>
    public MultiTaskOutput forward(Tensor images, ResolvedConfiguration configuration)
    {
        if (images.dim() != 4 || images.shape[1] != Options.Channels)
            throw new ArgumentException($"Expected images of shape (N, {Options.Channels}, H, W); got ({string.Join(", ", images.shape)}).", nameof(images));
        if (!_costs.Fits(configuration))
            throw new ArgumentException($"Configuration {configuration} (encoder option {configuration.EncoderOption}, decoder width indices " +
                $"[{string.Join(", ", configuration.DecoderWidthIndices)}]) does not fit this network ({EncoderOptions.Count} encoder options, " +
                $"{_decoderWidths.Count} decoder widths, {Tasks.Count} tasks).", nameof(configuration));
        return ForwardDecoders(ForwardEncoderStages(images, configuration.EncoderOption), configuration, images);
    }

    /// <summary>
    /// Runs every task's decoder at <paramref name="configuration"/>'s widths on encoder stage outputs already computed
    /// at its encoder option (<see cref="ForwardEncoderStages"/>): the decoder half of <see cref="forward(Tensor, ResolvedConfiguration)"/>,
    /// for callers that run several decoder configurations on one encoder pass. <paramref name="images"/> only gives
    /// the output size (H, W).
    /// </summary>
    internal MultiTaskOutput ForwardDecoders(Tensor[] encoderFeatures, ResolvedConfiguration configuration, Tensor images)
    {
        var outputs = new Tensor[_decoders.Length];
        for (int t = 0; t < _decoders.Length; t++)
            outputs[t] = ForwardDecoder(t, encoderFeatures, configuration.EncoderOption, configuration.DecoderWidthIndex(t), images);
        return new MultiTaskOutput(encoderFeatures, outputs);
    }

    /// <summary>
    /// Adds the network at <paramref name="configuration"/> to an inference graph as eval-mode <see cref="forward(Tensor, WidthConfiguration)"/>
    /// computes it: every layer sliced to its active channels, batch norm folded into the convolutions with the
    /// statistics of its context (the encoder option for encoder layers, (encoder option, decoder width) for decoder
    /// layers). This is what an exporter (e.g. ONNX) writes.
    /// </summary>
    /// <param name="graph">The graph.</param>
    /// <param name="images">The input value, (N, C, H, W) at the options' input size.</param>
    /// <param name="configuration">The width configuration.</param>
    /// <returns>Per task, in task order, the logits value: (N, K) or (N, K, H, W).</returns>
    /// <exception cref="ArgumentException">The configuration does not fit the network.</exception>
    /// <exception cref="NotSupportedException">A custom stage or head does not support export.</exception>
    public IReadOnlyList<string> AppendTo(IInferenceGraphBuilder graph, string images, WidthConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(configuration);
        Validate(configuration);
        int e = _costs.EncoderOptionOf(configuration);
        IReadOnlyList<EncoderFeature> features = AppendEncoderStagesTo(graph, images, e);
        var outputs = new string[_decoders.Length];
        for (int t = 0; t < _decoders.Length; t++)
        {
            int d = _decoderWidths.IndexOf(configuration.DecoderWidths[t]);
            outputs[t] = _decoders[t].AppendTo(graph, $"decoder{t}", features, _decoderWidths[d], DecoderContext(e, d), Options.Height, Options.Width);
        }
        return outputs;
    }

    /// <summary>Adds the shared encoder at <paramref name="encoderOption"/> to an inference graph and returns every
    /// stage output with its active shape (the last is the encoder output).</summary>
    private EncoderFeature[] AppendEncoderStagesTo(IInferenceGraphBuilder graph, string images, int encoderOption)
    {
        double[] option = EncoderOptions[encoderOption];
        var features = new EncoderFeature[_encoder.Length];
        string x = images;
        int c = Options.Channels, h = Options.Height, w = Options.Width;
        for (int s = 0; s < _encoder.Length; s++)
        {
            int outC = WidthSet.ActiveChannels(_encoder[s].OutChannels, option.Length == 1 ? option[0] : option[s]);
            x = _encoder[s].AppendTo(graph, $"encoder_stage{s}", x, c, outC, encoderOption);
            c = outC;
            (h, w) = _encoder[s].OutputSize(h, w);
            features[s] = new EncoderFeature(x, c, h, w);
        }
        return features;
    }

    /// <summary>
    /// Adds only the shared encoder at encoder option <paramref name="encoderOption"/> to an inference graph (see
    /// <see cref="AppendTo"/>); its output is (N, C', h, w) as given by <see cref="EncoderOutputShape"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">No such encoder option.</exception>
    public string AppendEncoderTo(IInferenceGraphBuilder graph, string images, int encoderOption)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentOutOfRangeException.ThrowIfNegative(encoderOption);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(encoderOption, EncoderOptions.Count);
        return AppendEncoderStagesTo(graph, images, encoderOption)[^1].Value;
    }

    /// <summary>
    /// Adds only task <paramref name="task"/>'s decoder at width index <paramref name="widthIndex"/>, reading the
    /// encoder output of option <paramref name="encoderOption"/>, to an inference graph (see <see cref="AppendTo"/>).
    /// </summary>
    /// <returns>The task's logits value.</returns>
    /// <exception cref="ArgumentOutOfRangeException">No such task, encoder option or width.</exception>
    public string AppendDecoderTo(IInferenceGraphBuilder graph, int task, string encoderOutput, int encoderOption, int widthIndex)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentOutOfRangeException.ThrowIfNegative(task);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(task, _decoders.Length);
        ArgumentOutOfRangeException.ThrowIfNegative(widthIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(widthIndex, _decoderWidths.Count);
        int channels = EncoderOutputShape(encoderOption).Channels;
        return _decoders[task].AppendTo(graph, $"decoder{task}", encoderOutput, channels, _decoderWidths[widthIndex],
            DecoderContext(encoderOption, widthIndex), Options.Height, Options.Width);
    }

    /// <summary>Shape (C', h, w) of one image's encoder output at encoder option <paramref name="encoderOption"/>, for
    /// the options' input size.</summary>
    /// <exception cref="ArgumentOutOfRangeException">No such encoder option.</exception>
    public (int Channels, int Height, int Width) EncoderOutputShape(int encoderOption)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(encoderOption);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(encoderOption, EncoderOptions.Count);
        double[] option = EncoderOptions[encoderOption];
        int c = Options.Channels, h = Options.Height, w = Options.Width;
        for (int s = 0; s < _encoder.Length; s++)
        {
            c = WidthSet.ActiveChannels(_encoder[s].OutChannels, option.Length == 1 ? option[0] : option[s]);
            (h, w) = _encoder[s].OutputSize(h, w);
        }
        return (c, h, w);
    }

    /// <summary>
    /// Runs only the shared encoder at encoder option <paramref name="encoderOption"/>: the output of each stage,
    /// (N, C_s', H_s, W_s); the last is what the decoders read. The caller disposes the tensors.
    /// </summary>
    public Tensor[] ForwardEncoderStages(Tensor images, int encoderOption)
    {
        double[] option = EncoderOptions[encoderOption];
        var features = new Tensor[_encoder.Length];
        Tensor x = images;
        for (int s = 0; s < _encoder.Length; s++)
        {
            double w = option.Length == 1 ? option[0] : option[s];
            x = _encoder[s].forward(x, WidthSet.ActiveChannels(_encoder[s].OutChannels, w), encoderOption);
            features[s] = x;
        }
        return features;
    }

    /// <summary>
    /// Runs task <paramref name="task"/>'s decoder on the encoder stage outputs of option <paramref name="encoderOption"/>
    /// (<see cref="ForwardEncoderStages"/>; the last is the encoder output, per-pixel heads read earlier ones too) at
    /// width index <paramref name="widthIndex"/>; <paramref name="images"/> only gives the output size (H, W).
    /// </summary>
    public Tensor ForwardDecoder(int task, IReadOnlyList<Tensor> encoderFeatures, int encoderOption, int widthIndex, Tensor images) =>
        _decoders[task].forward(encoderFeatures, _decoderWidths[widthIndex], DecoderContext(encoderOption, widthIndex),
            (int)images.shape[2], (int)images.shape[3]);

    /// <summary>
    /// Runs the encoder once at option <paramref name="encoderOption"/> and every task's decoder at every width on its
    /// output, calling <paramref name="visit"/>(task, width index, output) for each; outputs are disposed after the call.
    /// A decoder reads only the encoder output, so this equals running (e, every decoder at d) for each width d, with one
    /// encoder pass instead of #widths, and each decoder's first convolution runs once at its widest (its output channels
    /// do not depend on the width; <see cref="TaskDecoder.ForwardEveryWidth"/>). Batch-norm post-statistics and the
    /// calibration table use it.
    /// </summary>
    internal void ForwardEveryDecoderWidth(Tensor images, int encoderOption, Action<int, int, Tensor> visit)
    {
        using var scope = NewDisposeScope();
        Tensor[] features = ForwardEncoderStages(images, encoderOption);
        double[] widths = Enumerable.Range(0, _decoderWidths.Count).Select(d => _decoderWidths[d]).ToArray();
        int[] contexts = Enumerable.Range(0, widths.Length).Select(d => DecoderContext(encoderOption, d)).ToArray();
        for (int t = 0; t < _decoders.Length; t++)
        {
            int task = t;
            _decoders[t].ForwardEveryWidth(features, widths, contexts, (int)images.shape[2], (int)images.shape[3],
                (d, output) => visit(task, d, output));
        }
    }

    /// <summary>Exact MACs of <paramref name="configuration"/> for one image of the options' input size.</summary>
    /// <exception cref="ArgumentException">The configuration does not fit the network.</exception>
    public long Macs(WidthConfiguration configuration) => _costs.Macs(configuration);

    /// <summary>Batch-norm context of a decoder at encoder option e and decoder width index d.</summary>
    internal int DecoderContext(int encoderOption, int decoderWidthIndex) => encoderOption * _decoderWidths.Count + decoderWidthIndex;

    /// <summary>All batch-norm layers of the network.</summary>
    internal IEnumerable<SlimmableBatchNorm2d> BatchNorms() => modules().OfType<SlimmableBatchNorm2d>();

    private CostTable BuildCostTable()
    {
        int height = Options.Height, width = Options.Width;
        var encoderMacs = new long[EncoderOptions.Count];
        var encoderOut = new (int C, int H, int W)[EncoderOptions.Count][];
        for (int e = 0; e < EncoderOptions.Count; e++)
        {
            int c = Options.Channels, h = height, w = width;
            long macs = 0;
            encoderOut[e] = new (int, int, int)[_encoder.Length];
            for (int s = 0; s < _encoder.Length; s++)
            {
                double m = EncoderOptions[e].Length == 1 ? EncoderOptions[e][0] : EncoderOptions[e][s];
                int outC = WidthSet.ActiveChannels(_encoder[s].OutChannels, m);
                macs += _encoder[s].Macs(c, outC, h, w);
                (h, w) = _encoder[s].OutputSize(h, w);
                c = outC;
                encoderOut[e][s] = (c, h, w);
            }
            encoderMacs[e] = macs;
        }
        var decoderMacs = new long[_decoders.Length][][];
        for (int t = 0; t < _decoders.Length; t++)
        {
            decoderMacs[t] = new long[EncoderOptions.Count][];
            for (int e = 0; e < EncoderOptions.Count; e++)
                decoderMacs[t][e] = _decoderWidths.Multipliers
                    .Select(wd => _decoders[t].Macs(encoderOut[e], wd)).ToArray();
        }
        return new CostTable(_decoderWidths, Tasks.Select(t => t.Name).ToArray(), EncoderOptions, encoderMacs, decoderMacs);
    }

    private static IReadOnlyList<double[]> EnumerateEncoderOptions(WidthSet widths, int stages, bool perStage)
    {
        if (!perStage) return widths.Multipliers.Select(w => new[] { w }).ToArray();
        var options = new List<double[]> { Array.Empty<double>() };
        for (int s = 0; s < stages; s++)
            options = options.SelectMany(prefix => widths.Multipliers.Select(w => prefix.Append(w).ToArray())).ToList();
        return options;
    }
}
