using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetSlim.Nn;

/// <summary>
/// Batch normalisation for slimmable layers with shared affine parameters and private running statistics per
/// <em>context</em>. A context identifies the widths that shape this layer's input distribution (for an encoder layer,
/// the encoder option; for a decoder layer, the encoder option and the decoder width). Feature statistics differ across
/// widths (Yu et al., ICLR 2019, Sec. 3.2), and with an encoder and decoders slimmed independently they differ across
/// combinations too, so one set of statistics per context is kept. Statistics are tracked with momentum during training
/// and recomputed exactly after training by the Training layer's BatchNormPostStatistics ("post-statistics", Yu &amp; Huang,
/// "Universally Slimmable Networks", ICCV 2019, Sec. 3.3). The affine weight and bias (C) are shared and sliced to the
/// leading channels, as the universally slimmable network does. See docs/method.md.
/// </summary>
public sealed class SlimmableBatchNorm2d : nn.Module
{
    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly Tensor running_mean;
    private readonly Tensor running_var;
    private readonly int[] _postStatisticsBatches;

    /// <summary>Creates the layer.</summary>
    /// <param name="channels">Full channels C.</param>
    /// <param name="contexts">Number of contexts K (private statistics sets).</param>
    /// <param name="momentum">Running-statistics momentum during training.</param>
    /// <param name="eps">Added to the variance.</param>
    /// <param name="name">Module name.</param>
    public SlimmableBatchNorm2d(int channels, int contexts, double momentum = 0.1, double eps = 1e-5, string name = "bn") : base(name)
    {
        if (channels <= 0 || contexts <= 0) throw new ArgumentException($"Invalid batch norm: channels={channels}, contexts={contexts}.");
        Channels = channels;
        Contexts = contexts;
        Momentum = momentum;
        Eps = eps;
        weight = new Parameter(ones(channels));
        bias = new Parameter(zeros(channels));
        running_mean = zeros(contexts, channels);
        running_var = ones(contexts, channels);
        _postStatisticsBatches = new int[contexts];
        register_buffer(nameof(running_mean), running_mean);
        register_buffer(nameof(running_var), running_var);
        RegisterComponents();
    }

    /// <summary>Full channels C.</summary>
    public int Channels { get; }

    /// <summary>Number of contexts K.</summary>
    public int Contexts { get; }

    /// <summary>Running-statistics momentum during training.</summary>
    public double Momentum { get; }

    /// <summary>Variance epsilon.</summary>
    public double Eps { get; }

    /// <summary>
    /// When true, training-mode forwards accumulate an exact cumulative average of batch statistics per context
    /// instead of a momentum average (set by the Training layer's BatchNormPostStatistics).
    /// </summary>
    internal bool CollectingPostStatistics { get; set; }

    internal void ResetPostStatistics()
    {
        Array.Clear(_postStatisticsBatches);
    }

    /// <summary>Normalises (N, C', H, W) with context <paramref name="context"/>'s statistics (eval) or batch statistics (train).</summary>
    /// <exception cref="ArgumentException">Context out of range or more channels than the layer owns.</exception>
    public Tensor forward(Tensor input, int context)
    {
        if ((uint)context >= (uint)Contexts)
            throw new ArgumentException($"{GetName()}: context {context} is outside [0, {Contexts}).");
        long c = input.shape[1];
        if (c > Channels) throw new ArgumentException($"{GetName()}: input has {c} channels; the layer has {Channels}.");
        using Tensor w = weight.narrow(0, 0, c);
        using Tensor b = bias.narrow(0, 0, c);
        using Tensor meanRow = running_mean[context];
        using Tensor varRow = running_var[context];
        using Tensor mean = meanRow.narrow(0, 0, c);
        using Tensor var = varRow.narrow(0, 0, c);
        if (!training)
            return nn.functional.batch_norm(input, mean, var, w, b, false, 0, Eps);

        double momentum = Momentum;
        if (CollectingPostStatistics)
        {
            // Cumulative moving average: the n-th batch gets weight 1/n, so the result is the exact mean over batches.
            _postStatisticsBatches[context]++;
            momentum = 1.0 / _postStatisticsBatches[context];
        }
        // mean and var are views of the context's row: batch_norm updates them in place.
        return nn.functional.batch_norm(input, mean, var, w, b, true, momentum, Eps);
    }
}
