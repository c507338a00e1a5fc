namespace MLNetSlim.Nn;

/// <summary>
/// Receives one width configuration of a slimmable network as a static inference graph: layers with their weights
/// already sliced to the active channels and batch norm folded into the preceding convolution (eval-mode statistics
/// of the configuration's batch-norm context). Values are named by strings the builder returns; the network calls
/// the methods in data-flow order. Implemented by exporters (for example the ONNX exporter, namespace MLNetSlim.Onnx); the
/// network never depends on the format.
/// </summary>
/// <remarks>Tensors are row-major float32 arrays. Feature maps are (N, C, H, W); vectors are (N, F).</remarks>
public interface IInferenceGraphBuilder
{
    /// <summary>2-D convolution of (N, <paramref name="inChannels"/>, H, W) with square kernels, equal stride and
    /// zero padding on both axes, plus a bias: (N, <paramref name="outChannels"/>, H', W').</summary>
    /// <param name="name">A readable, unique name of the layer (e.g. "encoder_stage1.conv0").</param>
    /// <param name="input">The input value.</param>
    /// <param name="weight">(outChannels, inChannels, kernelSize, kernelSize), row-major.</param>
    /// <param name="bias">(outChannels).</param>
    /// <param name="outChannels">Output channels.</param>
    /// <param name="inChannels">Input channels.</param>
    /// <param name="kernelSize">Kernel size k.</param>
    /// <param name="stride">Stride.</param>
    /// <param name="padding">Zero padding on each side.</param>
    /// <returns>The output value.</returns>
    string Conv2d(string name, string input, float[] weight, float[] bias, int outChannels, int inChannels, int kernelSize, int stride, int padding);

    /// <summary>Element-wise max(x, 0).</summary>
    string Relu(string input);

    /// <summary>Max pooling with a k x k window and stride k, no padding, rounding the output size down.</summary>
    string MaxPool2d(string input, int kernelSize);

    /// <summary>Element-wise sum of two values of the same shape.</summary>
    string Add(string left, string right);

    /// <summary>Mean over the spatial axes: (N, C, H, W) to (N, C).</summary>
    string GlobalAveragePool(string input);

    /// <summary>Fully connected layer: (N, <paramref name="inFeatures"/>) to (N, <paramref name="outFeatures"/>),
    /// y = x W^T + b.</summary>
    /// <param name="name">A readable, unique name of the layer.</param>
    /// <param name="input">The input value.</param>
    /// <param name="weight">(outFeatures, inFeatures), row-major.</param>
    /// <param name="bias">(outFeatures).</param>
    /// <param name="outFeatures">Output features.</param>
    /// <param name="inFeatures">Input features.</param>
    string Linear(string name, string input, float[] weight, float[] bias, int outFeatures, int inFeatures);

    /// <summary>Bilinear resize of (N, C, h, w) to (N, C, <paramref name="height"/>, <paramref name="width"/>) with
    /// half-pixel centres (PyTorch's <c>align_corners = false</c>).</summary>
    string ResizeBilinear(string input, int height, int width);
}
