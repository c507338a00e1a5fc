using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetSlim.Nn;

/// <summary>
/// A slimmable fully connected layer (Yu et al., ICLR 2019): owns (F_out, F_in) weights and uses the first F_in' input
/// features of whatever input it is given. The output width is fixed (a classifier's K classes).
/// </summary>
public sealed class SlimmableLinear : nn.Module
{
    private readonly Parameter weight;
    private readonly Parameter bias;

    /// <summary>Creates the layer with PyTorch's default uniform(-1/sqrt(F_in), 1/sqrt(F_in)) initialisation.</summary>
    public SlimmableLinear(int inFeatures, int outFeatures, string name = "linear") : base(name)
    {
        if (inFeatures <= 0 || outFeatures <= 0)
            throw new ArgumentException($"Invalid linear shape: in={inFeatures}, out={outFeatures}.");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        double bound = 1.0 / Math.Sqrt(inFeatures);
        weight = new Parameter(empty(outFeatures, inFeatures).uniform_(-bound, bound));
        bias = new Parameter(empty(outFeatures).uniform_(-bound, bound));
        RegisterComponents();
    }

    /// <summary>Full input features.</summary>
    public int InFeatures { get; }

    /// <summary>Output features.</summary>
    public int OutFeatures { get; }

    /// <summary>(N, F_in') to (N, F_out).</summary>
    /// <exception cref="ArgumentException">More input features than the layer owns.</exception>
    public Tensor forward(Tensor input)
    {
        long inActive = input.shape[^1];
        if (inActive > InFeatures)
            throw new ArgumentException($"{GetName()}: input has {inActive} features; the layer has {InFeatures}.");
        using Tensor w = weight.narrow(1, 0, inActive);
        return nn.functional.linear(input, w, bias);
    }

    /// <summary>Adds this layer at <paramref name="inActive"/> input features to an inference graph.</summary>
    /// <exception cref="ArgumentException">More input features than the layer owns.</exception>
    public string AppendTo(IInferenceGraphBuilder graph, string name, string input, int inActive)
    {
        if (inActive < 1 || inActive > InFeatures)
            throw new ArgumentException($"{GetName()}: input has {inActive} features; the layer has {InFeatures}.");
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        float[] w = weight.narrow(1, 0, inActive).to(float32).cpu().contiguous().data<float>().ToArray();
        float[] b = bias.to(float32).cpu().data<float>().ToArray();
        return graph.Linear(name, input, w, b, OutFeatures, inActive);
    }

    /// <summary>Multiply-accumulates for one input vector: F_out x F_in'.</summary>
    public long Macs(int inActive) => (long)OutFeatures * inActive;
}
