using MLNetSlim.Nn;
using TorchSharp;
using static TorchSharp.torch;
using MLNetSlim.Architecture;

namespace MLNetSlim.Network.Decoders;

/// <summary>
/// A slimmable task decoder: the backbone stages that are not shared (its own copies) followed by a
/// <see cref="TaskHead"/>. Reads the leading channels of the encoder's active output (N, C_enc', h, w) and runs every
/// stage at the task's width multiplier. Output (N, K) or (N, K, H, W), see <see cref="TaskHead"/>.
/// </summary>
public sealed class TaskDecoder : nn.Module
{
    private readonly SlimmableStage[] _stages;
    private readonly TaskHead _head;

    internal TaskDecoder(TaskDefinition task, SlimmableStage[] stages, TaskHead head) : base("decoder_" + task.Name)
    {
        Task = task;
        _stages = stages;
        _head = head;
        for (int i = 0; i < stages.Length; i++) register_module($"stage{i}", stages[i]);
        register_module("head", head);
    }

    /// <summary>The task.</summary>
    public TaskDefinition Task { get; }

    /// <summary>The decoder's own stages.</summary>
    public IReadOnlyList<SlimmableStage> Stages => _stages;

    /// <summary>The head.</summary>
    public TaskHead Head => _head;

    /// <summary>Runs the decoder at multiplier <paramref name="width"/> with batch-norm context <paramref name="context"/>.</summary>
    public Tensor forward(Tensor encoderOutput, double width, int context, int inputHeight, int inputWidth) =>
        forward([encoderOutput], width, context, inputHeight, inputWidth);

    /// <summary>Runs the decoder on the encoder's stage outputs (the last is the encoder output; per-pixel heads also read
    /// earlier ones as skip connections) at multiplier <paramref name="width"/> with batch-norm context
    /// <paramref name="context"/>.</summary>
    public Tensor forward(IReadOnlyList<Tensor> encoderFeatures, double width, int context, int inputHeight, int inputWidth)
    {
        Tensor encoderOutput = encoderFeatures[^1];
        Tensor x = encoderOutput;
        foreach (SlimmableStage stage in _stages)
        {
            Tensor y = stage.forward(x, WidthSet.ActiveChannels(stage.OutChannels, width), context);
            if (!ReferenceEquals(x, encoderOutput)) x.Dispose();
            x = y;
        }
        Tensor output = _head.forward(x, encoderFeatures, width, context, inputHeight, inputWidth);
        if (!ReferenceEquals(x, encoderOutput)) x.Dispose();
        return output;
    }

    /// <summary>
    /// Runs the decoder at every width of <paramref name="widths"/> (multipliers, with batch-norm contexts
    /// <paramref name="contexts"/>) on one encoder output, calling <paramref name="visit"/>(i, output) with the output at
    /// widths[i] (as <see cref="forward(IReadOnlyList{Tensor}, double, int, int, int)"/>); each output is disposed after
    /// its call. The first stage shares its work across the widths (<see cref="SlimmableStage.ForwardEveryWidth"/>).
    /// </summary>
    internal void ForwardEveryWidth(IReadOnlyList<Tensor> encoderFeatures, IReadOnlyList<double> widths, IReadOnlyList<int> contexts,
        int inputHeight, int inputWidth, Action<int, Tensor> visit)
    {
        if (_stages.Length == 0)
        {
            for (int i = 0; i < widths.Count; i++)
            {
                using Tensor output = forward(encoderFeatures, widths[i], contexts[i], inputHeight, inputWidth);
                visit(i, output);
            }
            return;
        }
        int[] firstOut = widths.Select(w => WidthSet.ActiveChannels(_stages[0].OutChannels, w)).ToArray();
        _stages[0].ForwardEveryWidth(encoderFeatures[^1], firstOut, contexts, (i, first) =>
        {
            using var scope = NewDisposeScope();
            Tensor x = first;
            for (int s = 1; s < _stages.Length; s++) x = _stages[s].forward(x, WidthSet.ActiveChannels(_stages[s].OutChannels, widths[i]), contexts[i]);
            Tensor output = _head.forward(x, encoderFeatures, widths[i], contexts[i], inputHeight, inputWidth);
            visit(i, output);
        });
    }

    /// <summary>
    /// Adds the decoder at multiplier <paramref name="width"/> and batch-norm context <paramref name="context"/> to an
    /// inference graph, reading <paramref name="encoderChannels"/> active encoder channels (what <c>forward</c>
    /// computes in eval mode).
    /// </summary>
    /// <returns>The task's logits value.</returns>
    /// <exception cref="NotSupportedException">A stage or the head does not support export.</exception>
    public string AppendTo(IInferenceGraphBuilder graph, string name, string encoderOutput, int encoderChannels, double width, int context,
        int inputHeight, int inputWidth)
    {
        string x = AppendStagesTo(graph, name, encoderOutput, encoderChannels, width, context, out int c);
        return _head.AppendTo(graph, name + ".head", x, c, inputHeight, inputWidth);
    }

    /// <summary>
    /// Adds the decoder to an inference graph reading the encoder's stage outputs (graph value and active shape of each;
    /// the last is the encoder output; per-pixel heads also read earlier ones as skip connections), at multiplier
    /// <paramref name="width"/> and batch-norm context <paramref name="context"/>.
    /// </summary>
    /// <returns>The task's logits value.</returns>
    /// <exception cref="NotSupportedException">A stage or the head does not support export.</exception>
    public string AppendTo(IInferenceGraphBuilder graph, string name, IReadOnlyList<EncoderFeature> encoderFeatures, double width, int context,
        int inputHeight, int inputWidth)
    {
        ArgumentNullException.ThrowIfNull(encoderFeatures);
        EncoderFeature top = encoderFeatures[^1];
        string x = AppendStagesTo(graph, name, top.Value, top.Channels, width, context, out int c);
        return _head.AppendTo(graph, name + ".head", x, c, encoderFeatures, width, context, inputHeight, inputWidth);
    }

    private string AppendStagesTo(IInferenceGraphBuilder graph, string name, string encoderOutput, int encoderChannels, double width, int context,
        out int channels)
    {
        string x = encoderOutput;
        int c = encoderChannels;
        for (int i = 0; i < _stages.Length; i++)
        {
            int outC = WidthSet.ActiveChannels(_stages[i].OutChannels, width);
            x = _stages[i].AppendTo(graph, $"{name}.stage{i}", x, c, outC, context);
            c = outC;
        }
        channels = c;
        return x;
    }

    /// <summary>Exact MACs for one image: encoder output of <paramref name="encoderChannels"/> channels at h x w.</summary>
    public long Macs(int encoderChannels, double width, int height, int widthPixels) =>
        Macs([(encoderChannels, height, widthPixels)], width);

    /// <summary>Exact MACs for one image, given the active shapes (C', H, W) of every encoder stage output (the last is
    /// the encoder output).</summary>
    public long Macs(IReadOnlyList<(int Channels, int Height, int Width)> encoderFeatures, double width)
    {
        (int encoderChannels, int height, int widthPixels) = encoderFeatures[^1];
        long macs = 0;
        int c = encoderChannels;
        foreach (SlimmableStage stage in _stages)
        {
            int outC = WidthSet.ActiveChannels(stage.OutChannels, width);
            macs += stage.Macs(c, outC, height, widthPixels);
            (height, widthPixels) = stage.OutputSize(height, widthPixels);
            c = outC;
        }
        return macs + _head.Macs(c, height, widthPixels, encoderFeatures, width);
    }
}
