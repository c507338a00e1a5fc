using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Serving;

namespace MLNetSlim.MLNet;

/// <summary>Schema validation shared by the estimator and the transformer; every message names the column, the
/// expected type and the actual type. Schema mismatches throw <see cref="ArgumentOutOfRangeException"/>, as ML.NET's
/// own components do.</summary>
internal static class SchemaChecks
{
    /// <summary>The features column: a known-size Vector&lt;Single&gt; of C*H*W floats (shared with the scoring mapper,
    /// <see cref="ScoringSchema.FeatureColumn"/>).</summary>
    public static DataViewSchema.Column FeatureColumn(DataViewSchema schema, string name, int c, int h, int w, string paramName) =>
        ScoringSchema.FeatureColumn(schema, name, c, h, w, paramName);

    /// <summary>A task's label column: a key type.</summary>
    public static DataViewSchema.Column LabelColumn(DataViewSchema schema, string task, string name, string paramName)
    {
        if (schema.GetColumnOrNull(name) is not DataViewSchema.Column col)
            throw new ArgumentOutOfRangeException(paramName,
                $"Label column '{name}' of task '{task}' not found; expected a key type. Input columns: [{Names(schema)}].");
        if (col.Type is not KeyDataViewType)
            throw new ArgumentOutOfRangeException(paramName,
                $"Schema mismatch for label column '{name}' of task '{task}': expected a key type (Key<UInt32>), got {Describe(col.Type)}. " +
                $"Add mlContext.Transforms.Conversion.MapValueToKey(\"{name}\") before this trainer.");
        return col;
    }

    /// <summary>A per-pixel task's label-map column: a known-size Vector&lt;Single&gt; of L*H*W values, (L, H, W) order,
    /// at the image's H and W.</summary>
    public static DataViewSchema.Column LabelMapColumn(DataViewSchema schema, string task, string kind, string name, int l, int h, int w, string paramName)
    {
        string expected = $"Vector<Single, {l * h * w}> (a label map of (L, H, W) = ({l}, {h}, {w}) in LHW order, at the image's size {h} x {w})";
        if (schema.GetColumnOrNull(name) is not DataViewSchema.Column col)
            throw new ArgumentOutOfRangeException(paramName,
                $"Label-map column '{name}' of task '{task}' ({kind}) not found; expected {expected}. Input columns: [{Names(schema)}].");
        if (col.Type is not VectorDataViewType v || v.ItemType != NumberDataViewType.Single || !v.IsKnownSize)
            throw new ArgumentOutOfRangeException(paramName,
                $"Schema mismatch for label-map column '{name}' of task '{task}' ({kind}): expected {expected}, got {Describe(col.Type)}. " +
                "Load label-map images with mlContext.Transforms.LoadLabelMaps, or convert the column with ConvertType to Single.");
        if (v.Size != l * h * w)
            throw new ArgumentOutOfRangeException(paramName,
                $"Size mismatch for label-map column '{name}' of task '{task}' ({kind}): it holds {v.Size} values per row{SideOf(v.Size, l)}, " +
                $"but the image is {h} x {w} (H x W), so it needs {l * h * w} = {l} x {h} x {w} (L x H x W). Label maps must have the image's size.");
        return col;
    }

    private static string SideOf(int size, int l)
    {
        int side = (int)Math.Round(Math.Sqrt(size / (double)Math.Max(1, l)));
        return side > 0 && side * side * l == size ? $" ({l} x {side} x {side} if square)" : "";
    }

    /// <summary>The optional per-row control columns (see <see cref="ScoringSchema.ControlColumns"/>).</summary>
    public static (DataViewSchema.Column? Budget, DataViewSchema.Column? Weights) ControlColumns(DataViewSchema schema,
        string? budgetName, string? weightsName, int taskCount, string paramName) =>
        ScoringSchema.ControlColumns(schema, budgetName, weightsName, taskCount, paramName);

    /// <summary>"Vector&lt;Single, 784&gt;", "Key&lt;UInt32, 0-9&gt;", "Single"...</summary>
    public static string Describe(DataViewType type) => ScoringSchema.Describe(type);

    private static string Names(DataViewSchema schema) => ScoringSchema.Names(schema);

    /// <summary>Schema-shape check of the features column for the estimator's GetOutputSchema.</summary>
    public static void FeatureShape(SchemaShape shape, string name, int size, string paramName)
    {
        string expected = $"Vector<Single, {size}>";
        if (!TryFind(shape, name, out SchemaShape.Column col))
            throw new ArgumentOutOfRangeException(paramName, $"Features column '{name}' not found; expected {expected}. Input columns: [{string.Join(", ", shape.Select(c => c.Name))}].");
        if (col.Kind != SchemaShape.Column.VectorKind.Vector || col.ItemType != NumberDataViewType.Single || col.IsKey)
            throw new ArgumentOutOfRangeException(paramName, $"Schema mismatch for features column '{name}': expected {expected}, got {col.Kind} of {col.ItemType}{(col.IsKey ? " key" : "")}.");
    }

    /// <summary>Schema-shape check of a per-pixel task's label-map column for the estimator's GetOutputSchema.</summary>
    public static void LabelMapShape(SchemaShape shape, string task, string name, string paramName)
    {
        if (!TryFind(shape, name, out SchemaShape.Column col))
            throw new ArgumentOutOfRangeException(paramName, $"Label-map column '{name}' of task '{task}' not found; expected a known-size Vector<Single>. Input columns: [{string.Join(", ", shape.Select(c => c.Name))}].");
        if (col.Kind != SchemaShape.Column.VectorKind.Vector || col.ItemType != NumberDataViewType.Single || col.IsKey)
            throw new ArgumentOutOfRangeException(paramName,
                $"Schema mismatch for label-map column '{name}' of task '{task}': expected a known-size Vector<Single>, got {col.Kind} of {col.ItemType}{(col.IsKey ? " key" : "")}.");
    }

    /// <summary>Schema-shape check of a label column for the estimator's GetOutputSchema.</summary>
    public static void LabelShape(SchemaShape shape, string task, string name, string paramName)
    {
        if (!TryFind(shape, name, out SchemaShape.Column col))
            throw new ArgumentOutOfRangeException(paramName, $"Label column '{name}' of task '{task}' not found; expected a key type. Input columns: [{string.Join(", ", shape.Select(c => c.Name))}].");
        if (!col.IsKey || col.Kind != SchemaShape.Column.VectorKind.Scalar)
            throw new ArgumentOutOfRangeException(paramName,
                $"Schema mismatch for label column '{name}' of task '{task}': expected a key type, got {col.Kind} of {col.ItemType}. " +
                $"Add mlContext.Transforms.Conversion.MapValueToKey(\"{name}\") before this trainer.");
    }

    private static bool TryFind(SchemaShape shape, string name, out SchemaShape.Column column)
    {
        for (int i = shape.Count - 1; i >= 0; i--)
            if (shape[i].Name == name) { column = shape[i]; return true; }
        column = default;
        return false;
    }
}
