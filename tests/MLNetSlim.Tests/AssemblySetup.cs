using MLNetSlim.Runtime;

namespace MLNetSlim.Tests;

[TestClass]
public static class AssemblySetup
{
    /// <summary>Prepares TorchSharp's native runtime before any test touches a tensor (see docs/runtime.md).</summary>
    [AssemblyInitialize]
    public static void Initialize(TestContext context) => TorchRuntime.EnsureInitialized();

    /// <summary>
    /// Deletes the run's temporary folder (<see cref="TestData.TempRoot"/>) once every test has run. Before this, each
    /// run left its model files, ONNX graphs and fixtures in the system temp folder (about 12 GB after a day of runs).
    /// </summary>
    [AssemblyCleanup]
    public static void Cleanup() => TestData.DeleteTempRoot();
}
