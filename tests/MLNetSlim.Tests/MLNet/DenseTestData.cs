using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;
using MLNetSlim.MLNet;

namespace MLNetSlim.Tests.MLNet;

/// <summary>Small synthetic scenes for the per-pixel ML.NET tests: 16x16 canvases with one or two bright rectangles;
/// tasks seg (3 classes: background, class 1, class 2), depth (10 background, 6 back item, 3 front item), edges
/// (outline of the items) and front (the class, 0 or 1, of the last item drawn).</summary>
internal static class DenseTestData
{
    public const int H = 16, W = 16, Pixels = H * W;

    public sealed class Row
    {
        public float[] Features { get; set; } = [];
        public float[] Seg { get; set; } = [];
        public float[] Depth { get; set; } = [];
        public float[] Edges { get; set; } = [];
        public uint Front { get; set; }
    }

    public static Row[] Rows(int n, int seed = 3)
    {
        var rng = new Random(seed);
        var rows = new Row[n];
        for (int i = 0; i < n; i++)
        {
            var image = new float[Pixels];
            var seg = new float[Pixels];
            var depth = Enumerable.Repeat(10f, Pixels).ToArray();
            var id = new int[Pixels];
            int items = 1 + rng.Next(2), cls = 0;
            for (int j = 0; j < items; j++)
            {
                cls = rng.Next(2);
                int h = 4 + rng.Next(6), w = 4 + rng.Next(6), top = rng.Next(H - h + 1), left = rng.Next(W - w + 1);
                for (int y = top; y < top + h; y++)
                    for (int x = left; x < left + w; x++)
                    {
                        int p = y * W + x;
                        image[p] = cls == 0 ? 0.5f : 1f;
                        seg[p] = cls + 1;
                        depth[p] = j == 0 ? 6 : 3;
                        id[p] = j + 1;
                    }
            }
            var edges = new float[Pixels];
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                {
                    int p = y * W + x;
                    bool e = (x > 0 && id[p - 1] != id[p]) || (x < W - 1 && id[p + 1] != id[p]) || (y > 0 && id[p - W] != id[p]) || (y < H - 1 && id[p + W] != id[p]);
                    edges[p] = e ? 1 : 0;
                }
            rows[i] = new Row { Features = image, Seg = seg, Depth = depth, Edges = edges, Front = (uint)cls };
        }
        return rows;
    }

    /// <summary>The rows as a data view: known-size vectors, Front a 2-value key (class c is key c + 1).</summary>
    public static IDataView View(MLContext ml, IEnumerable<Row> rows, int labelMapSize = Pixels)
    {
        SchemaDefinition def = SchemaDefinition.Create(typeof(Row));
        def["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, Pixels);
        foreach (string c in new[] { "Seg", "Depth", "Edges" }) def[c].ColumnType = new VectorDataViewType(NumberDataViewType.Single, labelMapSize);
        def["Front"].ColumnType = new KeyDataViewType(typeof(uint), 2);
        return ml.Data.LoadFromEnumerable(rows, def);
    }

    public static ControllableMultiTaskEstimator.Options Options() => new()
    {
        Tasks =
        {
            new() { Name = "seg", LabelColumnName = "Seg", Kind = TaskKind.Segmentation, NumClasses = 3, IgnoreValue = 255 },
            new() { Name = "depth", LabelColumnName = "Depth", Kind = TaskKind.Depth },
            new() { Name = "edges", LabelColumnName = "Edges", Kind = TaskKind.Edges },
            new() { Name = "front", LabelColumnName = "Front" },
        },
        ImageChannels = 1,
        ImageHeight = H,
        ImageWidth = W,
        Epochs = 1,
        BatchSize = 8,
        PyramidChannels = 8,
        Seed = 1,
    };
}
