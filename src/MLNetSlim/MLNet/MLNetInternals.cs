using System.Reflection;
using System.Runtime.CompilerServices;
using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace MLNetSlim.MLNet;

/// <summary>
/// The ONLY place that touches ML.NET internals (Microsoft.ML 5.0.1), through reflection. ML.NET keeps the members a
/// third-party component needs to save itself inside a model zip and to be found again by <c>mlContext.Model.Load</c>
/// internal (see docs/notes on ML.NET extensibility). Every member is looked up by name once, on first use; if ML.NET
/// renames or removes one, the lookup throws <see cref="MissingMemberException"/> naming the member and the ML.NET
/// version this bridge was written against, instead of failing somewhere deep inside a save or a load.
/// </summary>
internal static class MLNetInternals
{
    private const string Written = "Microsoft.ML 5.0.1";
    private const BindingFlags Any = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;

    private static readonly Assembly Core = typeof(ModelSaveContext).Assembly;
    private static readonly ConditionalWeakTable<ComponentCatalog, HashSet<string>> Registered = new();
    private static readonly object RegisterLock = new();

    // ---- lookups --------------------------------------------------------------------------------------------------

    private static Type CoreType(string fullName) =>
        Core.GetType(fullName, throwOnError: false) ?? throw Missing($"type {fullName}");

    private static MethodInfo Method(Type type, string name, params Type[] parameters) =>
        type.GetMethod(name, Any, null, parameters, null) ?? throw Missing($"method {type.FullName}.{name}({string.Join(", ", parameters.Select(p => p.Name))})");

    private static FieldInfo Field(Type type, string name) =>
        type.GetField(name, Any) ?? throw Missing($"field {type.FullName}.{name}");

    private static ConstructorInfo Ctor(Type type, params Type[] parameters) =>
        type.GetConstructor(Any, null, parameters, null) ?? throw Missing($"constructor {type.FullName}({string.Join(", ", parameters.Select(p => p.Name))})");

    private static MissingMemberException Missing(string what) =>
        new($"MLNetSlim needs the ML.NET internal {what}, which this version of ML.NET ({Core.GetName().Version}) does not have. " +
            $"MLNetSlim's save/load bridge was written against {Written}; use that version of Microsoft.ML.");

    private static Exception Unwrap(TargetInvocationException e) => e.InnerException ?? e;

    private static readonly Lazy<Type> VersionInfoType = new(() => CoreType("Microsoft.ML.VersionInfo"));
    private static readonly Lazy<Type> LoadContextType = new(() => CoreType("Microsoft.ML.ModelLoadContext"));
    private static readonly Lazy<Type> SignatureLoadModelType = new(() => CoreType("Microsoft.ML.SignatureLoadModel"));

    // ---- version info ---------------------------------------------------------------------------------------------

    private static object VersionInfo(ModelFormatInfo f)
    {
        ConstructorInfo ctor = Ctor(VersionInfoType.Value, typeof(string), typeof(uint), typeof(uint), typeof(uint), typeof(string), typeof(string), typeof(string));
        return ctor.Invoke(new object?[] { f.ModelSignature, f.VersionWritten, f.VersionReadable, f.VersionWeCanReadBack, f.LoaderAssemblyName, f.LoaderSignature, null });
    }

    // ---- saving ---------------------------------------------------------------------------------------------------

    /// <summary>
    /// Writes a component: checks the context is at its model position, stamps the version and loader names, lets
    /// <paramref name="writeMain"/> write the main (Model.key) stream and <paramref name="binaryStreams"/> write named
    /// sibling entries of the zip.
    /// </summary>
    public static void Save(ModelSaveContext ctx, ModelFormatInfo format, Action<BinaryWriter> writeMain,
        IEnumerable<(string Name, Action<BinaryWriter> Write)> binaryStreams)
    {
        Type t = typeof(ModelSaveContext);
        try
        {
            Method(t, "CheckAtModel").Invoke(ctx, null);
            Method(t, "SetVersionInfo", VersionInfoType.Value).Invoke(ctx, new[] { VersionInfo(format) });
            var writer = (BinaryWriter)(Field(t, "Writer").GetValue(ctx) ?? throw Missing("value of ModelSaveContext.Writer"));
            writeMain(writer);
            MethodInfo saveBinary = Method(t, "SaveBinaryStream", typeof(string), typeof(Action<BinaryWriter>));
            foreach ((string name, Action<BinaryWriter> write) in binaryStreams)
                saveBinary.Invoke(ctx, new object[] { name, write });
        }
        catch (TargetInvocationException e)
        {
            throw Unwrap(e);
        }
    }

    // ---- loading --------------------------------------------------------------------------------------------------

    /// <summary>
    /// Registers <paramref name="create"/> as the loader of components saved with <paramref name="format"/>'s loader
    /// signature in <paramref name="env"/>'s component catalog. Idempotent per catalog.
    /// </summary>
    /// <param name="env">The environment (an MLContext's).</param>
    /// <param name="format">Names the loader.</param>
    /// <param name="instanceType">The type the loader returns.</param>
    /// <param name="create">A static method (IHostEnvironment env, object modelLoadContext) returning
    /// <paramref name="instanceType"/>.</param>
    public static void RegisterLoader(IHostEnvironment env, ModelFormatInfo format, Type instanceType, MethodInfo create)
    {
        ComponentCatalog catalog = env.ComponentCatalog;
        lock (RegisterLock)
        {
            HashSet<string> signatures = Registered.GetOrCreateValue(catalog);
            if (signatures.Contains(format.LoaderSignature)) return;
            try
            {
                Type attrType = CoreType("Microsoft.ML.LoadableClassAttribute");
                // LoadableClassAttribute(Type instType, Type loaderType, Type argType, Type sigType, string userName, params string[] loadNames)
                ConstructorInfo attrCtor = Ctor(attrType, typeof(Type), typeof(Type), typeof(Type), typeof(Type), typeof(string), typeof(string[]));
                string[] loadNames = { format.LoaderSignature };
                object attr = attrCtor.Invoke(new object?[] { instanceType, create.DeclaringType, null, SignatureLoadModelType.Value, format.LoaderSignature, loadNames });

                Type infoType = typeof(ComponentCatalog).GetNestedType("LoadableClassInfo", Any) ?? throw Missing("type ComponentCatalog.LoadableClassInfo");
                // LoadableClassInfo(LoadableClassAttributeBase attr, MethodInfo getter, ConstructorInfo ctor, MethodInfo create, bool requireEnvironment)
                ConstructorInfo infoCtor = Ctor(infoType, CoreType("Microsoft.ML.LoadableClassAttributeBase"), typeof(MethodInfo), typeof(ConstructorInfo), typeof(MethodInfo), typeof(bool));
                object info = infoCtor.Invoke(new object?[] { attr, null, null, new DirectInvokeMethod(create), true });

                Method(typeof(ComponentCatalog), "AddClass", infoType, typeof(string[]), typeof(bool)).Invoke(catalog, new object[] { info, loadNames, true });
            }
            catch (TargetInvocationException e)
            {
                throw Unwrap(e);
            }
            signatures.Add(format.LoaderSignature);
        }
    }

    /// <summary>Calls ML.NET's internal <c>MLContext.CancelExecution()</c> (public in ML.NET's design, internal in
    /// Microsoft.ML 5.0.1), which marks the context's environment cancelled for every component.</summary>
    /// <exception cref="MissingMemberException">ML.NET no longer has the member.</exception>
    public static void CancelExecution(MLContext mlContext)
    {
        MethodInfo m = typeof(MLContext).GetMethod("CancelExecution", Any, Type.EmptyTypes) ?? throw Missing("method MLContext.CancelExecution()");
        m.Invoke(mlContext, null);
    }

    /// <summary>A probe of <c>mlContext.CancelExecution()</c>: reads ML.NET's internal <c>ICancelable.IsCanceled</c> of
    /// <paramref name="env"/> (an MLContext or the environment behind a catalog).</summary>
    /// <exception cref="MissingMemberException">ML.NET no longer has the member (the message names it).</exception>
    public static Func<bool> CancellationProbe(IHostEnvironment env)
    {
        // MLContext forwards CancelExecution to its private environment (field _env), which implements ICancelable.
        object target = env;
        if (env.GetType().GetInterfaces().All(i => i.Name != "ICancelable"))
            target = env.GetType().GetField("_env", Any)?.GetValue(env) ?? throw Missing($"field _env of {env.GetType().FullName}");
        Type face = target.GetType().GetInterfaces().FirstOrDefault(i => i.Name == "ICancelable")
            ?? throw Missing($"interface ICancelable on {target.GetType().FullName}");
        PropertyInfo p = face.GetProperty("IsCanceled", Any) ?? throw Missing("property ICancelable.IsCanceled");
        return () => (bool)p.GetValue(target)!;
    }

    /// <summary><c>mlContext.GpuDeviceId</c> and <c>mlContext.FallbackToCpu</c> of <paramref name="env"/>, read through
    /// ML.NET's internal <c>IHostEnvironmentInternal</c> (the catalogs hand out the environment, not the MLContext).</summary>
    /// <exception cref="MissingMemberException">ML.NET no longer has the members (the message names them).</exception>
    public static (int? GpuDeviceId, bool FallbackToCpu) GpuSettings(IHostEnvironment env)
    {
        if (env is MLContext ml) return (ml.GpuDeviceId, ml.FallbackToCpu);
        Type face = env.GetType().GetInterfaces().FirstOrDefault(i => i.Name == "IHostEnvironmentInternal")
            ?? throw Missing($"interface IHostEnvironmentInternal on {env.GetType().FullName}");
        PropertyInfo gpu = face.GetProperty("GpuDeviceId", Any) ?? throw Missing("property IHostEnvironmentInternal.GpuDeviceId");
        PropertyInfo fallback = face.GetProperty("FallbackToCpu", Any) ?? throw Missing("property IHostEnvironmentInternal.FallbackToCpu");
        return ((int?)gpu.GetValue(env), (bool)fallback.GetValue(env)!);
    }

    /// <summary>True when <see cref="RegisterLoader"/> ran for <paramref name="env"/>'s catalog with the transformer's
    /// loader signature.</summary>
    public static bool IsRegistered(IHostEnvironment env)
    {
        lock (RegisterLock)
            return Registered.TryGetValue(env.ComponentCatalog, out HashSet<string>? s) && s.Contains(ControllableMultiTaskTransformer.LoaderSignature);
    }

    /// <summary>A view of ML.NET's internal ModelLoadContext handed to a loader registered with <see cref="RegisterLoader"/>.</summary>
    public sealed class LoadContext
    {
        private readonly object _ctx;

        /// <summary>Wraps the context ML.NET passed.</summary>
        /// <exception cref="ArgumentException">It is not a ModelLoadContext.</exception>
        public LoadContext(object ctx)
        {
            if (!LoadContextType.Value.IsInstanceOfType(ctx))
                throw new ArgumentException($"Expected ML.NET's ModelLoadContext, got {ctx.GetType().FullName}.", nameof(ctx));
            _ctx = ctx;
        }

        /// <summary>Checks the position and the version stamp against <paramref name="format"/>.</summary>
        public void CheckAtModel(ModelFormatInfo format) =>
            Invoke(Method(LoadContextType.Value, "CheckAtModel", VersionInfoType.Value), VersionInfo(format));

        /// <summary>The reader of the main (Model.key) stream.</summary>
        public BinaryReader Reader => (BinaryReader)(Field(LoadContextType.Value, "Reader").GetValue(_ctx) ?? throw Missing("value of ModelLoadContext.Reader"));

        /// <summary>The zip archive being read (ML.NET's RepositoryReader._archive).</summary>
        public System.IO.Compression.ZipArchive Archive
        {
            get
            {
                object repository = Field(LoadContextType.Value, "Repository").GetValue(_ctx) ?? throw Missing("value of ModelLoadContext.Repository");
                return (System.IO.Compression.ZipArchive)(Field(repository.GetType(), "_archive").GetValue(repository)
                    ?? throw Missing("value of RepositoryReader._archive"));
            }
        }

        /// <summary>The folder of this component inside the zip (e.g. "TransformerChain/Transform_001"), or null.</summary>
        public string? Directory => Field(LoadContextType.Value, "Directory").GetValue(_ctx) as string;

        /// <summary>The file being read, when ML.NET opened one (best effort: null when it read a stream).</summary>
        public string? FileName
        {
            get
            {
                try
                {
                    System.IO.Compression.ZipArchive zip = Archive;
                    FieldInfo? f = typeof(System.IO.Compression.ZipArchive).GetField("_archiveStream", Any);
                    return (f?.GetValue(zip) as FileStream)?.Name;
                }
                catch (Exception e) when (e is MissingMemberException or FieldAccessException or InvalidCastException)
                {
                    return null;
                }
            }
        }

        /// <summary>The versions in the header of this component's record: (written, oldest reader that can read it).</summary>
        public (ulong Written, ulong Readable)? HeaderVersions
        {
            get
            {
                object? header = LoadContextType.Value.GetField("Header", Any)?.GetValue(_ctx);
                if (header is null) return null;
                object? w = header.GetType().GetField("ModelVerWritten", Any)?.GetValue(header);
                object? r = header.GetType().GetField("ModelVerReadable", Any)?.GetValue(header);
                return w is null || r is null ? null : (Convert.ToUInt64(w, System.Globalization.CultureInfo.InvariantCulture), Convert.ToUInt64(r, System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        /// <summary>Reads the sibling entry <paramref name="name"/>; false when the zip has none.</summary>
        public bool TryLoadBinaryStream(string name, Action<BinaryReader> read) =>
            (bool)Invoke(Method(LoadContextType.Value, "TryLoadBinaryStream", typeof(string), typeof(Action<BinaryReader>)), name, read)!;

        private object? Invoke(MethodInfo m, params object[] args)
        {
            try
            {
                return m.Invoke(_ctx, args);
            }
            catch (TargetInvocationException e)
            {
                throw Unwrap(e);
            }
        }
    }

    // ---- catalogs and schema shapes -------------------------------------------------------------------------------

    /// <summary>The environment behind an ML.NET catalog object (e.g. <c>mlContext.Transforms</c>).</summary>
    public static IHostEnvironment EnvironmentOf(object catalog)
    {
        Type face = catalog.GetType().GetInterfaces().FirstOrDefault(i => i.Name == "IInternalCatalog")
            ?? throw Missing($"interface IInternalCatalog on {catalog.GetType().FullName}");
        PropertyInfo p = face.GetProperty("Environment", Any) ?? throw Missing("property IInternalCatalog.Environment");
        try
        {
            return (IHostEnvironment)(p.GetValue(catalog) ?? throw Missing("value of IInternalCatalog.Environment"));
        }
        catch (TargetInvocationException e)
        {
            throw Unwrap(e);
        }
    }

    /// <summary>The <see cref="SchemaShape"/> of a full schema (ML.NET's internal SchemaShape.Create).</summary>
    public static SchemaShape ToShape(DataViewSchema schema)
    {
        try
        {
            return (SchemaShape)Method(typeof(SchemaShape), "Create", typeof(DataViewSchema)).Invoke(null, new object[] { schema })!;
        }
        catch (TargetInvocationException e)
        {
            throw Unwrap(e);
        }
    }
}

/// <summary>
/// A <see cref="MethodInfo"/> over a static loader method whose <see cref="Invoke(object?, BindingFlags, Binder?, object?[], System.Globalization.CultureInfo?)"/>
/// lets the method's exceptions through unwrapped. ML.NET calls registered loaders with <c>MethodInfo.Invoke</c>,
/// which would otherwise turn every load error into a bare <see cref="TargetInvocationException"/> ("Exception has been
/// thrown by the target of an invocation").
/// </summary>
internal sealed class DirectInvokeMethod : MethodInfo
{
    private readonly MethodInfo _inner;

    public DirectInvokeMethod(MethodInfo inner)
    {
        if (!inner.IsStatic) throw new ArgumentException("Only static loader methods can be wrapped.", nameof(inner));
        _inner = inner;
    }

    public override object? Invoke(object? obj, BindingFlags invokeAttr, Binder? binder, object?[]? parameters, System.Globalization.CultureInfo? culture) =>
        _inner.Invoke(obj, invokeAttr | BindingFlags.DoNotWrapExceptions, binder, parameters, culture);

    public override MethodAttributes Attributes => _inner.Attributes;
    public override RuntimeMethodHandle MethodHandle => _inner.MethodHandle;
    public override Type? DeclaringType => _inner.DeclaringType;
    public override string Name => _inner.Name;
    public override Type? ReflectedType => _inner.ReflectedType;
    public override Type ReturnType => _inner.ReturnType;
    public override ParameterInfo ReturnParameter => _inner.ReturnParameter;
    public override ICustomAttributeProvider ReturnTypeCustomAttributes => _inner.ReturnTypeCustomAttributes;
    public override MethodInfo GetBaseDefinition() => _inner.GetBaseDefinition();
    public override object[] GetCustomAttributes(bool inherit) => _inner.GetCustomAttributes(inherit);
    public override object[] GetCustomAttributes(Type attributeType, bool inherit) => _inner.GetCustomAttributes(attributeType, inherit);
    public override bool IsDefined(Type attributeType, bool inherit) => _inner.IsDefined(attributeType, inherit);
    public override MethodImplAttributes GetMethodImplementationFlags() => _inner.GetMethodImplementationFlags();
    public override ParameterInfo[] GetParameters() => _inner.GetParameters();
}

/// <summary>The version stamp and loader names of a saved component (ML.NET's VersionInfo, in public types).</summary>
/// <param name="ModelSignature">Exactly 8 Latin-1 characters.</param>
/// <param name="VersionWritten">Format version this code writes.</param>
/// <param name="VersionReadable">Oldest reader version that can read what this code writes.</param>
/// <param name="VersionWeCanReadBack">Oldest written version this code can read.</param>
/// <param name="LoaderSignature">Loader name looked up in the component catalog, at most 24 Latin-1 characters.</param>
/// <param name="LoaderAssemblyName">Full name of the assembly holding the loader.</param>
internal sealed record ModelFormatInfo(string ModelSignature, uint VersionWritten, uint VersionReadable, uint VersionWeCanReadBack,
    string LoaderSignature, string LoaderAssemblyName);
