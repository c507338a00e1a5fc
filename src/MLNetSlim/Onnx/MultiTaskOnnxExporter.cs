using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Google.Protobuf;
using MLNetSlim.Control;
using MLNetSlim.Network;
using Onnx;
using MLNetSlim.Architecture;
using MLNetSlim.Model;

namespace MLNetSlim.Onnx;

/// <summary>
/// Writes one width configuration of a slimmable multi-task network as an ONNX model: a static graph with every layer
/// sliced to the configuration's active channels and batch norm folded into the convolutions, using the running
/// statistics of the configuration's batch-norm contexts (the encoder option for encoder layers; the encoder option
/// and the task's decoder width for decoder layers). The model needs no TorchSharp to run.
/// </summary>
/// <remarks>
/// <para><b>Input.</b> One float32 tensor named after the feature column (default <c>Features</c>) of shape
/// (N, C*H*W): the image in (C, H, W) order, flattened, exactly the <c>Vector&lt;Single, C*H*W&gt;</c> column the
/// ML.NET transformer reads. The graph reshapes it to (N, C, H, W) itself (free in ONNX Runtime). This layout lets
/// ML.NET's <c>ApplyOnnxModel</c> feed the column with no shape dictionary, and N is symbolic, so any batch size
/// runs.</para>
/// <para><b>Outputs,</b> per task T with K classes, named like the ML.NET columns:
/// <c>Score.T</c>, float32 (N, K), class probabilities (softmax of the logits); per-pixel tasks (N, C_t, H, W):
/// segmentation softmax over the K classes, depth the values, normals unit vectors over the 3 channels, edges sigmoid
/// probabilities — the values of the TorchSharp model's <c>Predict</c>; and, for classification and segmentation,
/// <c>PredictedLabel.T</c>, int64 (N, 1) (segmentation: (N, H, W)), the arg-max class index, 0-based (the ML.NET key
/// column holds that index + 1).</para>
/// <para><b>Metadata</b> (ONNX <c>metadata_props</c>): <c>mlnetslim.configuration</c> (e.g. "enc=0.5 dec=1,0.25"),
/// <c>mlnetslim.macs</c>, <c>mlnetslim.input_shape</c> ("C,H,W"), <c>mlnetslim.tasks</c> (JSON: name, kind, class
/// names) and, for a model, <c>mlnetslim.model_id</c>.</para>
/// <para>Opset 18 of the default domain, IR version 8; runs on ONNX Runtime 1.14 and later.</para>
/// </remarks>
public static class MultiTaskOnnxExporter
{
    /// <summary>The default-domain opset of exported models.</summary>
    public const int OpsetVersion = OnnxGraphBuilder.Opset;

    /// <summary>Prefix of the per-task probability outputs (same as the ML.NET columns).</summary>
    public const string ScoreOutputPrefix = "Score.";

    /// <summary>Prefix of the per-task arg-max outputs (same names as the ML.NET columns; 0-based class index).</summary>
    public const string PredictedLabelOutputPrefix = "PredictedLabel.";

    /// <summary>Metadata key of the exported configuration.</summary>
    public const string ConfigurationMetadataKey = "mlnetslim.configuration";

    /// <summary>Metadata key of the exported configuration's MACs per image.</summary>
    public const string MacsMetadataKey = "mlnetslim.macs";

    /// <summary>Metadata key of the model id (<see cref="ControllableMultiTaskModel.Id"/>).</summary>
    public const string ModelIdMetadataKey = "mlnetslim.model_id";

    private const long IrVersion = 8; // ONNX 1.13, the first with opset 18

    /// <summary>Writes <paramref name="configuration"/> of <paramref name="model"/> to <paramref name="stream"/>.</summary>
    /// <param name="model">The trained model.</param>
    /// <param name="configuration">The width configuration to export.</param>
    /// <param name="stream">Receives the ONNX model (protobuf).</param>
    /// <param name="inputName">Name of the input tensor: the ML.NET feature column name.</param>
    /// <exception cref="ArgumentException">The configuration does not fit the network.</exception>
    /// <exception cref="NotSupportedException">A custom stage or head of the network does not support export.</exception>
    public static void Export(ControllableMultiTaskModel model, WidthConfiguration configuration, Stream stream, string inputName = "Features")
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(stream);
        ModelProto proto = Build(model.Network, configuration, inputName);
        proto.MetadataProps.Add(new StringStringEntryProto { Key = ModelIdMetadataKey, Value = model.Id.ToString("D") });
        proto.WriteTo(stream);
    }

    /// <summary>Writes <paramref name="configuration"/> of <paramref name="network"/> to <paramref name="stream"/>
    /// (see the class remarks for the graph's inputs and outputs).</summary>
    /// <exception cref="ArgumentException">The configuration does not fit the network.</exception>
    /// <exception cref="NotSupportedException">A custom stage or head of the network does not support export.</exception>
    public static void Export(MultiTaskNetwork network, WidthConfiguration configuration, Stream stream, string inputName = "Features")
    {
        ArgumentNullException.ThrowIfNull(stream);
        Build(network, configuration, inputName).WriteTo(stream);
    }

    /// <summary>The ONNX model of <paramref name="configuration"/> as bytes (see <see cref="Export(ControllableMultiTaskModel, WidthConfiguration, Stream, string)"/>).</summary>
    public static byte[] ToBytes(ControllableMultiTaskModel model, WidthConfiguration configuration, string inputName = "Features")
    {
        using var ms = new MemoryStream();
        Export(model, configuration, ms, inputName);
        return ms.ToArray();
    }

    /// <summary>Name of the encoder-output tensor of the encoder-only and decoder-only graphs.</summary>
    internal const string FeaturesName = "encoder_features";

    /// <summary>The encoder alone at encoder option <paramref name="encoderOption"/>: input (N, C*H*W) named
    /// <paramref name="inputName"/>, output <see cref="FeaturesName"/> (N, C', h, w). Used to measure latency per factor.</summary>
    internal static byte[] EncoderOnly(MultiTaskNetwork network, int encoderOption, string inputName = "Features")
    {
        NetworkOptions o = network.Options;
        var g = new OnnxGraphBuilder();
        g.Reserve(inputName);
        g.Graph.Name = "MLNetSlim.encoder";
        g.Graph.Input.Add(OnnxGraphBuilder.ValueInfo(inputName, TensorProto.Types.DataType.Float, null, (long)o.Channels * o.Height * o.Width));
        string shape = g.Initializer("image_shape", new long[] { -1, o.Channels, o.Height, o.Width });
        string images = g.Node("Reshape", "images", new[] { inputName, shape });
        string features = InEval(network, () => network.AppendEncoderTo(g, images, encoderOption));
        g.NodeTo("Identity", FeaturesName, new[] { features });
        (int c, int h, int w) = network.EncoderOutputShape(encoderOption);
        g.Graph.Output.Add(OnnxGraphBuilder.ValueInfo(FeaturesName, TensorProto.Types.DataType.Float, null, c, h, w));
        return Wrap(g, $"MLNetSlim encoder at option {encoderOption}.").ToByteArray();
    }

    /// <summary>Task <paramref name="task"/>'s decoder alone at width index <paramref name="widthIndex"/> on the
    /// encoder output of option <paramref name="encoderOption"/>: input <see cref="FeaturesName"/> (N, C', h, w),
    /// output <c>Score.T</c>. Used to measure latency per factor.</summary>
    internal static byte[] DecoderOnly(MultiTaskNetwork network, int task, int encoderOption, int widthIndex)
    {
        var g = new OnnxGraphBuilder();
        g.Reserve(FeaturesName);
        g.Graph.Name = "MLNetSlim.decoder";
        (int c, int h, int w) = network.EncoderOutputShape(encoderOption);
        g.Graph.Input.Add(OnnxGraphBuilder.ValueInfo(FeaturesName, TensorProto.Types.DataType.Float, null, c, h, w));
        string logits = InEval(network, () => network.AppendDecoderTo(g, task, FeaturesName, encoderOption, widthIndex));
        TaskDefinition t = network.Tasks[task];
        AppendScore(g, t, logits, network.Options.Height, network.Options.Width);
        return Wrap(g, $"MLNetSlim decoder of task {t.Name} at encoder option {encoderOption}, width index {widthIndex}.").ToByteArray();
    }

    /// <summary>The encoder at encoder option <paramref name="encoderOption"/> plus task <paramref name="task"/>'s decoder
    /// at width index <paramref name="widthIndex"/> (the other decoders pruned): input (N, C*H*W), output <c>Score.T</c>.
    /// Used to measure the latency of decoders that read several encoder stages (FPN-lite heads), which cannot run on
    /// the encoder output alone: their latency is this graph's minus the encoder's.</summary>
    internal static byte[] EncoderAndDecoder(MultiTaskNetwork network, int task, int encoderOption, int widthIndex, string inputName = "Features")
    {
        CostTable costs = network.CostTable;
        var decoders = new int[network.Tasks.Count];
        decoders[task] = widthIndex;
        WidthConfiguration c = costs.Configuration(encoderOption, decoders);
        NetworkOptions o = network.Options;
        var g = new OnnxGraphBuilder();
        g.Reserve(inputName);
        g.Graph.Name = "MLNetSlim.encoder_decoder";
        g.Graph.Input.Add(OnnxGraphBuilder.ValueInfo(inputName, TensorProto.Types.DataType.Float, null, (long)o.Channels * o.Height * o.Width));
        string shape = g.Initializer("image_shape", new long[] { -1, o.Channels, o.Height, o.Width });
        string images = g.Node("Reshape", "images", new[] { inputName, shape });
        IReadOnlyList<string> logits = InEval(network, () => network.AppendTo(g, images, c));
        AppendScore(g, network.Tasks[task], logits[task], o.Height, o.Width);
        // Keep only what the one output needs (the other decoders' nodes and weights).
        var needed = new HashSet<string>(g.Graph.Output.Select(v => v.Name));
        var kept = new List<NodeProto>();
        foreach (NodeProto node in g.Graph.Node.Reverse())
        {
            if (!node.Output.Any(needed.Contains)) continue;
            kept.Add(node);
            foreach (string input in node.Input) needed.Add(input);
        }
        kept.Reverse();
        g.Graph.Node.Clear();
        g.Graph.Node.AddRange(kept);
        List<TensorProto> initializers = g.Graph.Initializer.Where(i => needed.Contains(i.Name)).ToList();
        g.Graph.Initializer.Clear();
        g.Graph.Initializer.AddRange(initializers);
        return Wrap(g, $"MLNetSlim encoder at option {encoderOption} and decoder of task {network.Tasks[task].Name} at width index {widthIndex}.").ToByteArray();
    }

    /// <summary>The output <c>Score.T</c> of a task from its decoder's raw output, as the TorchSharp model's
    /// <c>Predict</c> computes it: softmax over channels for classification and segmentation, the values for depth,
    /// unit vectors for normals (x / max(||x||_2, 1e-12) over channels, torch's <c>normalize</c>), sigmoid for edges.</summary>
    private static void AppendScore(OnnxGraphBuilder g, TaskDefinition task, string logits, int height, int width)
    {
        string score = ScoreOutputPrefix + task.Name;
        switch (task.Kind)
        {
            case TaskKind.Classification:
            case TaskKind.Segmentation:
                g.NodeTo("Softmax", score, new[] { logits }, OnnxGraphBuilder.Int("axis", 1));
                break;
            case TaskKind.Depth:
                g.NodeTo("Identity", score, new[] { logits });
                break;
            case TaskKind.Normals:
                string axes = g.Initializer(task.Name + ".norm_axes", new long[] { 1 });
                string norm = g.Node("ReduceL2", task.Name + ".norm", new[] { logits, axes }, OnnxGraphBuilder.Int("keepdims", 1));
                string eps = g.Initializer(task.Name + ".norm_eps", new[] { 1e-12f });
                string clamped = g.Node("Max", task.Name + ".norm_clamped", new[] { norm, eps });
                g.NodeTo("Div", score, new[] { logits, clamped });
                break;
            default:
                g.NodeTo("Sigmoid", score, new[] { logits });
                break;
        }
        g.Graph.Output.Add(task.IsPerPixel
            ? OnnxGraphBuilder.ValueInfo(score, TensorProto.Types.DataType.Float, null, task.OutputChannels, height, width)
            : OnnxGraphBuilder.ValueInfo(score, TensorProto.Types.DataType.Float, null, task.NumClasses));
    }

    private static T InEval<T>(MultiTaskNetwork network, Func<T> build)
    {
        bool wasTraining = network.training;
        network.eval();
        try
        {
            return build();
        }
        finally
        {
            network.train(wasTraining);
        }
    }

    private static ModelProto Wrap(OnnxGraphBuilder g, string doc)
    {
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "MLNetSlim",
            ProducerVersion = typeof(MultiTaskOnnxExporter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "",
            Domain = "mlnetslim",
            DocString = doc,
            Graph = g.Graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = OnnxGraphBuilder.Opset });
        return model;
    }

    internal static ModelProto Build(MultiTaskNetwork network, WidthConfiguration configuration, string inputName)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentException.ThrowIfNullOrWhiteSpace(inputName);
        NetworkOptions o = network.Options;
        var g = new OnnxGraphBuilder();
        g.Reserve(inputName);
        g.Graph.Name = "MLNetSlim";
        g.Graph.Input.Add(OnnxGraphBuilder.ValueInfo(inputName, TensorProto.Types.DataType.Float, null, (long)o.Channels * o.Height * o.Width));

        string shape = g.Initializer("image_shape", new long[] { -1, o.Channels, o.Height, o.Width });
        string images = g.Node("Reshape", "images", new[] { inputName, shape });
        IReadOnlyList<string> logits = InEval(network, () => network.AppendTo(g, images, configuration));

        for (int i = 0; i < logits.Count; i++)
        {
            TaskDefinition task = network.Tasks[i];
            AppendScore(g, task, logits[i], o.Height, o.Width);
            if (task.Kind is not (TaskKind.Classification or TaskKind.Segmentation)) continue;
            string label = PredictedLabelOutputPrefix + task.Name;
            bool perPixel = task.Kind == TaskKind.Segmentation;
            g.NodeTo("ArgMax", label, new[] { logits[i] }, OnnxGraphBuilder.Int("axis", 1), OnnxGraphBuilder.Int("keepdims", perPixel ? 0 : 1));
            g.Graph.Output.Add(perPixel
                ? OnnxGraphBuilder.ValueInfo(label, TensorProto.Types.DataType.Int64, null, o.Height, o.Width)
                : OnnxGraphBuilder.ValueInfo(label, TensorProto.Types.DataType.Int64, null, 1));
        }

        long macs = network.Macs(configuration);
        ModelProto model = Wrap(g, $"MLNetSlim controllable multi-task network at width configuration {configuration} ({macs.ToString(CultureInfo.InvariantCulture)} MACs per image).");
        void Meta(string key, string value) => model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        Meta(ConfigurationMetadataKey, configuration.ToString());
        Meta(MacsMetadataKey, macs.ToString(CultureInfo.InvariantCulture));
        Meta("mlnetslim.input_shape", $"{o.Channels},{o.Height},{o.Width}");
        Meta("mlnetslim.tasks", JsonSerializer.Serialize(network.Tasks.Select(t => new { name = t.Name, kind = t.Kind.ToString(), classNames = t.ClassNames })));
        return model;
    }
}
