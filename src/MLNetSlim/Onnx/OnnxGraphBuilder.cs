using Google.Protobuf;
using MLNetSlim.Nn;
using Onnx;

namespace MLNetSlim.Onnx;

/// <summary>
/// Builds an ONNX <see cref="GraphProto"/> from the layer calls of <see cref="IInferenceGraphBuilder"/>: weights become
/// float32 initializers, each call one or two nodes of the default domain (opset <see cref="Opset"/>).
/// </summary>
internal sealed class OnnxGraphBuilder : IInferenceGraphBuilder
{
    /// <summary>The default-domain opset the nodes are written for (Resize with <c>axes</c> needs 18).</summary>
    public const int Opset = 18;

    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private int _counter;

    public GraphProto Graph { get; } = new();

    /// <summary>A fresh value name: <paramref name="hint"/>, or with a numeric suffix when taken.</summary>
    public string Fresh(string hint)
    {
        string name = hint;
        while (!_names.Add(name)) name = $"{hint}_{++_counter}";
        return name;
    }

    /// <summary>Adds a float32 initializer and returns its name.</summary>
    public string Initializer(string hint, float[] values, params long[] dims)
    {
        long count = dims.Aggregate(1L, (a, b) => a * b);
        if (count != values.Length) throw new ArgumentException($"Initializer '{hint}': {values.Length} values for shape ({string.Join(", ", dims)}).");
        var t = new TensorProto { Name = Fresh(hint), DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.AddRange(dims);
        t.FloatData.AddRange(values);
        Graph.Initializer.Add(t);
        return t.Name;
    }

    /// <summary>Adds an int64 initializer and returns its name.</summary>
    public string Initializer(string hint, long[] values)
    {
        var t = new TensorProto { Name = Fresh(hint), DataType = (int)TensorProto.Types.DataType.Int64 };
        t.Dims.Add(values.Length);
        t.Int64Data.AddRange(values);
        Graph.Initializer.Add(t);
        return t.Name;
    }

    /// <summary>Adds a node with one output named after <paramref name="outputHint"/>; returns the output name.</summary>
    public string Node(string opType, string outputHint, IEnumerable<string> inputs, params AttributeProto[] attributes)
    {
        string output = Fresh(outputHint);
        var node = new NodeProto { OpType = opType, Name = output };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return output;
    }

    /// <summary>Adds a node whose output has the given exact name (a graph output).</summary>
    public void NodeTo(string opType, string output, IEnumerable<string> inputs, params AttributeProto[] attributes)
    {
        if (!_names.Add(output)) throw new ArgumentException($"Value name '{output}' is used twice in the ONNX graph.");
        var node = new NodeProto { OpType = opType, Name = output };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
    }

    /// <summary>Declares a graph input name so that no node output takes it.</summary>
    public void Reserve(string name)
    {
        if (!_names.Add(name)) throw new ArgumentException($"Value name '{name}' is used twice in the ONNX graph.");
    }

    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Text(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    public static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    /// <summary>A tensor type with the given element type and dimensions; a null dimension is the symbolic batch "N".</summary>
    public static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType elementType, params long?[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (long? d in dims)
            shape.Dim.Add(d is long v ? new TensorShapeProto.Types.Dimension { DimValue = v } : new TensorShapeProto.Types.Dimension { DimParam = "N" });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)elementType, Shape = shape } },
        };
    }

    // ---- IInferenceGraphBuilder ----------------------------------------------------------------------------------------

    public string Conv2d(string name, string input, float[] weight, float[] bias, int outChannels, int inChannels, int kernelSize, int stride, int padding)
    {
        string w = Initializer(name + ".weight", weight, outChannels, inChannels, kernelSize, kernelSize);
        string b = Initializer(name + ".bias", bias, outChannels);
        return Node("Conv", name, new[] { input, w, b },
            Ints("kernel_shape", kernelSize, kernelSize), Ints("strides", stride, stride),
            Ints("pads", padding, padding, padding, padding), Ints("dilations", 1, 1), Int("group", 1));
    }

    public string Relu(string input) => Node("Relu", input + ".relu", new[] { input });

    public string MaxPool2d(string input, int kernelSize) =>
        Node("MaxPool", input + ".maxpool", new[] { input },
            Ints("kernel_shape", kernelSize, kernelSize), Ints("strides", kernelSize, kernelSize), Int("ceil_mode", 0));

    public string Add(string left, string right) => Node("Add", left + ".add", new[] { left, right });

    public string GlobalAveragePool(string input)
    {
        string pooled = Node("GlobalAveragePool", input + ".gap", new[] { input });
        return Node("Flatten", pooled + ".flatten", new[] { pooled }, Int("axis", 1));
    }

    public string Linear(string name, string input, float[] weight, float[] bias, int outFeatures, int inFeatures)
    {
        string w = Initializer(name + ".weight", weight, outFeatures, inFeatures);
        string b = Initializer(name + ".bias", bias, outFeatures);
        return Node("Gemm", name, new[] { input, w, b }, Int("transB", 1));
    }

    public string ResizeBilinear(string input, int height, int width)
    {
        string sizes = Initializer(input + ".resize_sizes", new long[] { height, width });
        // Inputs X, roi, scales, sizes: roi and scales left empty; axes (opset 18) lets sizes name H and W only.
        return Node("Resize", input + ".resize", new[] { input, "", "", sizes },
            Text("mode", "linear"), Text("coordinate_transformation_mode", "half_pixel"), Ints("axes", 2, 3));
    }
}
