using MLNetSlim.Runtime;

namespace MLNetSlim.Tests;

[TestClass]
public static class AssemblySetup
{
    /// <summary>Prepares TorchSharp's native runtime before any test touches a tensor (see docs/runtime.md).</summary>
    [AssemblyInitialize]
    public static void Initialize(TestContext context) => TorchRuntime.EnsureInitialized();
}
