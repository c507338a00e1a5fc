using System.Runtime.CompilerServices;

// InvalidModelFileException moved to the TorchSharp-free MLNetSlim.Serving assembly (same namespace), so the serving
// bundle reader throws the one exception type every MLNetSlim reader throws; assemblies compiled against MLNetSlim
// still find it here.
[assembly: TypeForwardedTo(typeof(MLNetSlim.Model.InvalidModelFileException))]
