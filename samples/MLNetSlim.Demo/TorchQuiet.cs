using System.Runtime.InteropServices;

namespace MLNetSlim.Demo;

/// <summary>
/// Keeps libtorch's stderr readable. On CPUs NNPACK does not support, libtorch 2.10 tries NNPACK for small-batch
/// convolutions and logs "Could not initialize NNPACK! Reason: Unsupported hardware." on every such call (about 1,500
/// lines in a small demo run), through c10 logging that TorchSharp gives no way to configure. Turning NNPACK off in
/// libtorch's global context (what PyTorch's <c>torch.backends.nnpack.set_flags(False)</c> does) makes convolutions take
/// the oneDNN / native path they take anyway when NNPACK is unavailable. TorchSharp 0.107 has no binding for it, so the
/// C++ functions are called directly; when the symbols are missing (another libtorch build) nothing changes.
/// </summary>
internal static class TorchQuiet
{
    /// <summary>Turns libtorch's NNPACK use off; true when it was applied.</summary>
    public static bool DisableNnpack()
    {
        try
        {
            IntPtr context = GlobalContext();
            if (context == IntPtr.Zero) return false;
            SetUserEnabledNnpack(context, false);
            return !UserEnabledNnpack(context);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    // at::globalContext() and at::Context::{set,}userEnabledNNPACK (Itanium C++ ABI: `this` is the first argument).
    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at13globalContextEv")]
    private static extern IntPtr GlobalContext();

    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledNNPACKEb")]
    private static extern void SetUserEnabledNnpack(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [DllImport("libtorch_cpu", EntryPoint = "_ZNK2at7Context17userEnabledNNPACKEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static extern bool UserEnabledNnpack(IntPtr context);
}
