using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MLNetSlim.Serving;

/// <summary>
/// One ONNX Runtime session of an exported width configuration (input (N, C*H*W) float32, outputs <c>Score.T</c>),
/// run with as little around <see cref="InferenceSession.Run(RunOptions, IReadOnlyCollection{string}, IReadOnlyCollection{OrtValue}, IReadOnlyCollection{string}, IReadOnlyCollection{OrtValue})"/>
/// as possible: the caller's floats are passed to ONNX Runtime in place (pinned, not copied) and the outputs are written
/// by ONNX Runtime straight into the result arrays (pre-allocated output values), so the only work besides the graph
/// is two small allocations per output. Shared by the TorchSharp side's ONNX Runtime path (MLNetSlim's Onnx layer) and
/// <see cref="ServingMultiTaskModel"/>. Thread-safe (ONNX Runtime sessions are).
/// </summary>
internal sealed class OnnxSession : IDisposable
{
    private readonly RunOptions _runOptions = new();
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly long[][] _outputShapes; // per output, dimensions with -1 for the batch

    /// <summary>Loads <paramref name="onnx"/>.</summary>
    /// <param name="onnx">The ONNX model bytes.</param>
    /// <param name="outputNames">Outputs to return, in this order.</param>
    /// <param name="intraOpThreads">Intra-op threads; 0 lets ONNX Runtime choose.</param>
    /// <param name="level">Graph optimisation level.</param>
    public OnnxSession(byte[] onnx, IReadOnlyList<string> outputNames, int intraOpThreads, GraphOptimizationLevel level = GraphOptimizationLevel.ORT_ENABLE_ALL)
    {
        using var so = new SessionOptions { GraphOptimizationLevel = level };
        if (intraOpThreads > 0)
        {
            so.IntraOpNumThreads = intraOpThreads;
            so.InterOpNumThreads = 1;
        }
        Inference = new InferenceSession(onnx, so);
        _inputNames = [Inference.InputMetadata.Keys.Single()];
        _outputNames = outputNames.ToArray();
        _outputShapes = _outputNames.Select(n => Inference.OutputMetadata[n].Dimensions.Select(d => (long)d).ToArray()).ToArray();
    }

    /// <summary>The session.</summary>
    public InferenceSession Inference { get; }

    /// <summary>Runs <paramref name="count"/> rows of <paramref name="rowSize"/> floats; per output, the row-major
    /// values.</summary>
    public unsafe float[][] Run(ReadOnlySpan<float> rows, int count, int rowSize)
    {
        var results = new float[_outputNames.Length][];
        var outputs = new OrtValue[_outputNames.Length];
        try
        {
            for (int o = 0; o < outputs.Length; o++)
            {
                long[] shape = (long[])_outputShapes[o].Clone();
                shape[0] = count;
                long length = 1;
                bool dynamic = false;
                foreach (long d in shape)
                {
                    dynamic |= d < 0;
                    length *= d;
                }
                if (dynamic)
                    return RunAllocating(rows, count, rowSize); // a dynamic non-batch dimension: let ONNX Runtime allocate
                results[o] = new float[length];
                outputs[o] = OrtValue.CreateTensorValueFromMemory(results[o], shape);
            }
            fixed (float* p = rows)
            {
                using OrtValue input = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float,
                    [count, rowSize], (IntPtr)p, (long)rows.Length * sizeof(float));
                Inference.Run(_runOptions, _inputNames, [input], _outputNames, outputs);
            }
            return results;
        }
        finally
        {
            foreach (OrtValue? v in outputs) v?.Dispose();
        }
    }

    private unsafe float[][] RunAllocating(ReadOnlySpan<float> rows, int count, int rowSize)
    {
        fixed (float* p = rows)
        {
            using OrtValue input = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float,
                [count, rowSize], (IntPtr)p, (long)rows.Length * sizeof(float));
            using IDisposableReadOnlyCollection<OrtValue> outputs = Inference.Run(_runOptions, _inputNames, [input], _outputNames);
            return outputs.Select(o => o.GetTensorDataAsSpan<float>().ToArray()).ToArray();
        }
    }

    /// <summary>Disposes the session.</summary>
    public void Dispose()
    {
        _runOptions.Dispose();
        Inference.Dispose();
    }
}
