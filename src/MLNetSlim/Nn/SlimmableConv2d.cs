using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetSlim.Nn;

/// <summary>
/// A slimmable 2-D convolution (Yu et al., "Slimmable Neural Networks", ICLR 2019): owns full-width weights of shape
/// (C_out, C_in, k, k) and, at run time, uses the first <c>outChannels</c> filters over the first C_in' input channels,
/// where C_in' is the channel count of the input it is given.
/// </summary>
public sealed class SlimmableConv2d : nn.Module
{
    private readonly Parameter weight;
    private readonly Parameter? bias;

    /// <summary>Creates the layer with Kaiming-normal (fan-out, ReLU) weights, as torchvision's ResNets.</summary>
    /// <param name="inChannels">Full input channels C_in.</param>
    /// <param name="outChannels">Full output channels C_out.</param>
    /// <param name="kernelSize">Square kernel size k.</param>
    /// <param name="stride">Stride.</param>
    /// <param name="padding">Zero padding on each side.</param>
    /// <param name="withBias">Whether the layer has a bias (false when a batch norm follows).</param>
    /// <param name="name">Module name.</param>
    public SlimmableConv2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0,
        bool withBias = false, string name = "conv") : base(name)
    {
        if (inChannels <= 0 || outChannels <= 0 || kernelSize <= 0 || stride <= 0 || padding < 0)
            throw new ArgumentException($"Invalid convolution shape: in={inChannels}, out={outChannels}, k={kernelSize}, stride={stride}, padding={padding}.");
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        Stride = stride;
        Padding = padding;
        weight = new Parameter(empty(outChannels, inChannels, kernelSize, kernelSize));
        nn.init.kaiming_normal_(weight, mode: nn.init.FanInOut.FanOut, nonlinearity: nn.init.NonlinearityType.ReLU);
        if (withBias) bias = new Parameter(zeros(outChannels));
        RegisterComponents();
    }

    /// <summary>Full input channels.</summary>
    public int InChannels { get; }

    /// <summary>Full output channels.</summary>
    public int OutChannels { get; }

    /// <summary>Kernel size k.</summary>
    public int KernelSize { get; }

    /// <summary>Stride.</summary>
    public int Stride { get; }

    /// <summary>Padding.</summary>
    public int Padding { get; }

    /// <summary>Sets every element of the bias to <paramref name="value"/> (without recording gradients).</summary>
    /// <exception cref="InvalidOperationException">The layer has no bias.</exception>
    internal void SetBias(double value)
    {
        if (bias is null) throw new InvalidOperationException($"{GetName()} has no bias.");
        using var noGrad = no_grad();
        bias.fill_(value);
    }

    /// <summary>Convolves (N, C_in', H, W) with the first <paramref name="outChannels"/> filters: (N, outChannels, H', W').</summary>
    /// <exception cref="ArgumentException">More channels than the layer owns.</exception>
    public Tensor forward(Tensor input, int outChannels)
    {
        long inActive = input.shape[1];
        if (inActive > InChannels || outChannels > OutChannels || outChannels <= 0)
            throw new ArgumentException($"{GetName()}: asked for {inActive} -> {outChannels} channels; the layer has {InChannels} -> {OutChannels}.");
        using Tensor w = weight.narrow(0, 0, outChannels).narrow(1, 0, inActive);
        using Tensor? b = bias?.narrow(0, 0, outChannels);
        return nn.functional.conv2d(input, w, b, strides: new long[] { Stride, Stride },
            padding: new long[] { Padding, Padding });
    }

    /// <summary>
    /// Adds this layer at <paramref name="inActive"/> -&gt; <paramref name="outActive"/> channels to an inference graph,
    /// with <paramref name="batchNorm"/> (context <paramref name="context"/>) folded in when given:
    /// W' = W * s, b' = b * s + t for the batch norm's eval-mode affine map (s, t), computed in float64.
    /// </summary>
    /// <exception cref="ArgumentException">More channels than the layer owns.</exception>
    public string AppendTo(IInferenceGraphBuilder graph, string name, string input, int inActive, int outActive,
        SlimmableBatchNorm2d? batchNorm, int context)
    {
        if (inActive < 1 || inActive > InChannels || outActive < 1 || outActive > OutChannels)
            throw new ArgumentException($"{GetName()}: asked for {inActive} -> {outActive} channels; the layer has {InChannels} -> {OutChannels}.");
        double[] w, b;
        using (no_grad())
        using (NewDisposeScope())
        {
            w = weight.narrow(0, 0, outActive).narrow(1, 0, inActive).to(float64).cpu().contiguous().data<double>().ToArray();
            b = bias is null ? new double[outActive] : bias.narrow(0, 0, outActive).to(float64).cpu().contiguous().data<double>().ToArray();
        }
        if (batchNorm is not null)
        {
            (double[] scale, double[] shift) = batchNorm.FoldedAffine(outActive, context);
            int per = inActive * KernelSize * KernelSize;
            for (int o = 0; o < outActive; o++)
            {
                for (int i = 0; i < per; i++) w[o * per + i] *= scale[o];
                b[o] = b[o] * scale[o] + shift[o];
            }
        }
        return graph.Conv2d(name, input, Array.ConvertAll(w, x => (float)x), Array.ConvertAll(b, x => (float)x),
            outActive, inActive, KernelSize, Stride, Padding);
    }

    /// <summary>Output spatial size for an input of <paramref name="size"/> pixels: floor((size + 2p - k) / s) + 1.</summary>
    public int OutputSize(int size) => (size + 2 * Padding - KernelSize) / Stride + 1;

    /// <summary>
    /// Multiply-accumulates for one image: C_out' x C_in' x k x k x H' x W' (bias additions are not counted).
    /// </summary>
    public long Macs(int inActive, int outActive, int inHeight, int inWidth) =>
        (long)outActive * inActive * KernelSize * KernelSize * OutputSize(inHeight) * OutputSize(inWidth);
}
