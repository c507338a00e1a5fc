using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetSlim.Serving;

/// <summary>Checks of the scoring transformers' input columns (the features and the optional per-row control columns),
/// shared by the TorchSharp transformer, the serving transformer and the estimator; every message names the column, the
/// expected type and the actual type. Schema mismatches throw <see cref="ArgumentOutOfRangeException"/>, as ML.NET's
/// own components do.</summary>
internal static class ScoringSchema
{
    /// <summary>The features column: a known-size Vector&lt;Single&gt; of C*H*W floats.</summary>
    public static DataViewSchema.Column FeatureColumn(DataViewSchema schema, string name, int c, int h, int w, string paramName)
    {
        string expected = $"Vector<Single, {c * h * w}> (an image of (C, H, W) = ({c}, {h}, {w}) in CHW order)";
        if (schema.GetColumnOrNull(name) is not DataViewSchema.Column col)
            throw new ArgumentOutOfRangeException(paramName,
                $"Features column '{name}' not found; expected {expected}. Input columns: [{Names(schema)}].");
        if (col.Type is not VectorDataViewType v || v.ItemType != NumberDataViewType.Single || !v.IsKnownSize || v.Size != c * h * w)
            throw new ArgumentOutOfRangeException(paramName,
                $"Schema mismatch for features column '{name}': expected {expected}, got {Describe(col.Type)}." +
                (col.Type is VectorDataViewType { ItemType: var it } && it != NumberDataViewType.Single
                    ? $" Convert it with mlContext.Transforms.Conversion.ConvertType(\"{name}\", outputKind: DataKind.Single)." : ""));
        return col;
    }

    /// <summary>
    /// The optional per-row control columns: the budget column must be a Single scalar, the task weights column a
    /// Vector&lt;Single&gt; of unknown size or of size <paramref name="taskCount"/>. A column that is absent, or whose
    /// name is null or empty, is returned as null.
    /// </summary>
    public static (DataViewSchema.Column? Budget, DataViewSchema.Column? Weights) ControlColumns(DataViewSchema schema,
        string? budgetName, string? weightsName, int taskCount, string paramName)
    {
        DataViewSchema.Column? budget = null, weights = null;
        if (!string.IsNullOrEmpty(budgetName) && schema.GetColumnOrNull(budgetName) is DataViewSchema.Column b)
        {
            if (b.Type != NumberDataViewType.Single)
                throw new ArgumentOutOfRangeException(paramName,
                    $"Schema mismatch for budget column '{budgetName}': expected Single (a fraction of the full network's MACs in (0, 1]), got {Describe(b.Type)}. " +
                    "Convert it with mlContext.Transforms.Conversion.ConvertType, or rename the column, or set BudgetColumnName to another column (null turns per-row budgets off).");
            budget = b;
        }
        if (!string.IsNullOrEmpty(weightsName) && schema.GetColumnOrNull(weightsName) is DataViewSchema.Column w)
        {
            if (w.Type is not VectorDataViewType v || v.ItemType != NumberDataViewType.Single || (v.IsKnownSize && v.Size != taskCount))
                throw new ArgumentOutOfRangeException(paramName,
                    $"Schema mismatch for task weights column '{weightsName}': expected Vector<Single, {taskCount}> or Vector<Single> (one weight per task, in task order), got {Describe(w.Type)}. " +
                    "Rename the column, or set TaskWeightsColumnName to another column (null turns per-row weights off).");
            weights = w;
        }
        return (budget, weights);
    }

    /// <summary>"Vector&lt;Single, 784&gt;", "Key&lt;UInt32, 0-9&gt;", "Single"...</summary>
    public static string Describe(DataViewType type) => type switch
    {
        VectorDataViewType v => v.IsKnownSize ? $"Vector<{Describe(v.ItemType)}, {v.Size}>" : $"Vector<{Describe(v.ItemType)}> (variable size)",
        KeyDataViewType k => $"Key<{Describe(ColumnTypeOf(k.RawType))}, {k.Count} values>",
        _ => type.ToString() ?? type.GetType().Name,
    };

    private static DataViewType ColumnTypeOf(Type raw) =>
        raw == typeof(uint) ? NumberDataViewType.UInt32 : raw == typeof(ushort) ? NumberDataViewType.UInt16
        : raw == typeof(byte) ? NumberDataViewType.Byte : NumberDataViewType.UInt64;

    /// <summary>The visible columns as "Name: Type".</summary>
    public static string Names(DataViewSchema schema) =>
        string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => $"{c.Name}: {Describe(c.Type)}"));
}
