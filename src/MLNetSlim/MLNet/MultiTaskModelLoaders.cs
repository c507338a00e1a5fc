using System.Collections.Concurrent;
using MLNetSlim.Model;
using MLNetSlim.Onnx;

namespace MLNetSlim.MLNet;

/// <summary>
/// The process-wide registry of <see cref="IMultiTaskModel"/> readers used when a model zip is loaded. Saving a
/// <see cref="ControllableMultiTaskTransformer"/> records the model's type name (<see cref="Type.FullName"/>, without
/// assembly version) and the bytes of <see cref="IMultiTaskModel.Save"/>; loading looks the name up here and hands the
/// bytes to the registered reader. Thread-safe.
/// </summary>
public static class MultiTaskModelLoaders
{
    private static readonly ConcurrentDictionary<string, Func<Stream, IMultiTaskModel>> Loaders = new(StringComparer.Ordinal)
    {
        // The library's own model is always readable.
        [KeyOf(typeof(ControllableMultiTaskModel))] = s => ControllableMultiTaskModel.Load(s),
        // Zips record the model's type name; releases before the Model folder saved it under MLNetSlim.Control (the
        // golden zip in tests/MLNetSlim.Tests/Golden is one), so that name stays readable.
        ["MLNetSlim.Control.ControllableMultiTaskModel"] = s => ControllableMultiTaskModel.Load(s),
        // A transformer made by WithOnnxRuntime saves the TorchSharp model's bytes under this name.
        [KeyOf(typeof(OnnxRuntimeMultiTaskModel))] = s => new OnnxRuntimeMultiTaskModel(ControllableMultiTaskModel.Load(s)),
    };

    /// <summary>
    /// Registers the reader of models of type <typeparamref name="TModel"/>: it must rebuild, from the bytes
    /// <see cref="IMultiTaskModel.Save"/> wrote, a model that predicts bit-identically. Registering the same type again
    /// replaces the reader.
    /// </summary>
    /// <typeparam name="TModel">The concrete model type, as returned by <see cref="object.GetType"/> on saved models.</typeparam>
    /// <param name="load">Reads one model from a seekable stream positioned at its first byte. It may read the stream
    /// to its end.</param>
    /// <exception cref="ArgumentNullException"><paramref name="load"/> is null.</exception>
    public static void Register<TModel>(Func<Stream, TModel> load) where TModel : IMultiTaskModel
    {
        ArgumentNullException.ThrowIfNull(load);
        Loaders[KeyOf(typeof(TModel))] = s => load(s);
    }

    /// <summary>True when a reader is registered for models of type <paramref name="modelType"/>.</summary>
    public static bool IsRegistered(Type modelType) => Loaders.ContainsKey(KeyOf(modelType));

    /// <summary>The registry key of a model type: its full name.</summary>
    internal static string KeyOf(Type modelType) => modelType.FullName ?? modelType.Name;

    /// <summary>Reads a model saved under <paramref name="key"/>.</summary>
    /// <exception cref="InvalidOperationException">No reader is registered for <paramref name="key"/>.</exception>
    internal static IMultiTaskModel Load(string key, Stream stream)
    {
        if (!Loaders.TryGetValue(key, out Func<Stream, IMultiTaskModel>? load))
            throw new InvalidOperationException(
                $"This model zip holds a multi-task network of type '{key}', and no reader is registered for it. " +
                $"Call MultiTaskModelLoaders.Register<{key.Split('.', '+')[^1]}>(stream => ...) (or mlContext.AddMLNetSlim() for MLNetSlim's own " +
                $"networks) before mlContext.Model.Load. Registered: [{string.Join(", ", Loaders.Keys.Order(StringComparer.Ordinal))}].");
        return load(stream);
    }
}
