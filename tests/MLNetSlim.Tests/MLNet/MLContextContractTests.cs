using Microsoft.ML;
using MLNetSlim.Fixtures;
using MLNetSlim.MLNet;
using MLNetSlim.Training;

namespace MLNetSlim.Tests.MLNet;

/// <summary>The MLContext contract (issue 10): CancelExecution stops Fit, GpuDeviceId / FallbackToCpu pick the device.</summary>
[TestClass]
public class MLContextContractTests
{
    private static ControllableMultiTaskEstimator.Options LazyOptions(bool stream) => new()
    {
        Tasks = { new("Task0"), new("Task1") },
        ImageChannels = 1,
        ImageHeight = 8,
        ImageWidth = 8,
        Epochs = 3,
        BatchSize = 4,
        Seed = 1,
        ValidationFraction = 0,
        InMemoryCacheLimitMB = stream ? 0 : 1024,
        ProgressEverySteps = 1,
    };

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void CancelExecution_StopsFitWithinOneStep(bool stream)
    {
        var ml = new MLContext(1);
        ControllableMultiTaskEstimator.Options o = LazyOptions(stream);
        var steps = new List<int>();
        int cancelledAt = -1;
        o.Progress = new StreamingTests.ActionProgress(p =>
        {
            if (p.IsEpochEnd) return;
            steps.Add(p.Step);
            if (p.Step == 3)
            {
                ml.CancelExecution();
                cancelledAt = p.Step;
            }
        });
        Assert.ThrowsExactly<OperationCanceledException>(() =>
            ml.MulticlassClassification.Trainers.ControllableMultiTask(o).Fit(new LazyImageDataView(200, 1, 8, 8)), "Fit is cancelled");
        Assert.AreEqual(3, cancelledAt);
        Assert.AreEqual(3, steps.Max(), "no optimiser step after CancelExecution");
    }

    [TestMethod]
    public void GpuDeviceId_WithFallbackToCpu_TrainsOnTheCpu_AndSaysSo()
    {
        var ml = new MLContext(1) { GpuDeviceId = 0, FallbackToCpu = true };
        var log = new List<string>();
        ml.Log += (_, e) => { lock (log) log.Add(e.Message); };
        ControllableMultiTaskEstimator.Options o = LazyOptions(false);
        o.Epochs = 1;
        if (TorchSharp.torch.cuda.is_available()) Assert.Inconclusive("CUDA is available here; the fallback is not exercised.");
        ControllableMultiTaskTransformer t = ml.MulticlassClassification.Trainers.ControllableMultiTask(o).Fit(new LazyImageDataView(16, 1, 8, 8));
        Assert.IsTrue(log.Any(m => m.Contains("mlContext.GpuDeviceId = 0 but CUDA is not available; training on the CPU")), string.Join("\n", log));
        Assert.AreEqual("cpu", t.TrainingOptions!.Device);
    }

    [TestMethod]
    public void GpuDeviceId_WithoutFallback_AndNoCuda_IsAClearError()
    {
        var ml = new MLContext(1) { GpuDeviceId = 1, FallbackToCpu = false };
        if (TorchSharp.torch.cuda.is_available()) Assert.Inconclusive("CUDA is available here.");
        var e = Assert.ThrowsExactly<InvalidOperationException>(() =>
            ml.MulticlassClassification.Trainers.ControllableMultiTask(LazyOptions(false)).Fit(new LazyImageDataView(16, 1, 8, 8)));
        StringAssert.Contains(e.Message, "mlContext.GpuDeviceId = 1");
        StringAssert.Contains(e.Message, "FallbackToCpu");
    }

    [TestMethod]
    public void ResolveDevice_FollowsOptionsFirst_ThenTheContext()
    {
        var ml = new MLContext(1) { GpuDeviceId = 2, FallbackToCpu = false };
        Assert.AreEqual("cpu", ControllableMultiTaskEstimator.ResolveDevice(ml, "cpu", null), "Options.Device wins");
        Assert.AreEqual("cuda:2", ControllableMultiTaskEstimator.ResolveDevice(ml, null, null, () => true));
        Assert.AreEqual("cpu", ControllableMultiTaskEstimator.ResolveDevice(new MLContext(1), null, null, () => true), "no GpuDeviceId: cpu");
        // Through a catalog the estimator sees ML.NET's environment, not the MLContext: the settings still arrive.
        Assert.AreEqual((int?)2, MLNetInternals.GpuSettings(MLNetInternals.EnvironmentOf(ml.Transforms)).GpuDeviceId);
    }
}
