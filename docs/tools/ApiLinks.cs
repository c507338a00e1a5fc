// Post-processes DocFX's markdown API reference (docs/api): DocFX leaves every <see cref> of a summary or remark as an
// HTML <xref href="UID"> tag, which GitHub renders as nothing ("Fit returns a ."). This turns each into a markdown
// link (an HTML <a>, which works inside HTML blocks too) to the type's page (and the member's anchor on it) when the page exists, else into the name as plain code.
//
//   dotnet run docs/tools/ApiLinks.cs -- docs/api        (docs/api.md: after `dotnet docfx metadata docs/docfx.json`)
using System.Text.RegularExpressions;

string folder = args.Length > 0 ? args[0] : "docs/api";
if (!Directory.Exists(folder))
{
    Console.Error.WriteLine($"error: folder '{folder}' does not exist; pass the API reference folder (docs/api).");
    return 1;
}
var pages = Directory.EnumerateFiles(folder, "*.md").ToDictionary(p => Path.GetFileNameWithoutExtension(p), File.ReadAllText, StringComparer.Ordinal);
var xref = new Regex("<xref href=\"([^\"]+)\"[^>]*>(.*?)</xref>", RegexOptions.Singleline);
int links = 0, plain = 0;
foreach ((string name, string text) in pages.ToArray())
{
    string fixedText = xref.Replace(text, m =>
    {
        string uid = Uri.UnescapeDataString(m.Groups[1].Value);
        (string? page, string? anchor, string label) = Resolve(uid);
        if (page is null)
        {
            plain++;
            return $"<code>{Escape(label)}</code>";
        }
        links++;
        // An HTML link, not [text](url): many of these sit inside HTML blocks (<p>...</p>), where GitHub renders no markdown.
        string href = page.StartsWith("https://", StringComparison.Ordinal) ? page : $"{page}.md{(anchor is null ? "" : "#" + anchor)}";
        return $"<a href=\"{href}\">{Escape(label)}</a>";
    });
    fixedText = fixedText.Replace("\r\n", "\n", StringComparison.Ordinal); // DocFX writes CRLF; the repository keeps LF
    if (fixedText != text) File.WriteAllText(Path.Combine(folder, name + ".md"), fixedText);
}
Console.WriteLine($"{links} cross-references linked, {plain} written as plain names.");
return 0;

// The page (type uid), the member anchor on it (or null) and the text of the link.
(string? Page, string? Anchor, string Label) Resolve(string uid)
{
    int paren = uid.IndexOf('(');
    string path = paren < 0 ? uid : uid[..paren];
    string parameters = paren < 0 ? "" : uid[paren..];
    string[] parts = path.Split('.');
    for (int n = parts.Length; n > 0; n--)
    {
        string type = string.Join('.', parts[..n]);
        if (!pages.TryGetValue(type, out string? page)) continue;
        string typeName = Generic(parts[n - 1]);
        if (n == parts.Length) return (type, null, typeName);
        string member = string.Join('.', parts[n..]).Replace("#ctor", typeName, StringComparison.Ordinal);
        string anchor = Regex.Replace(uid, "[^A-Za-z0-9]", "_");
        string label = $"{typeName}.{member}" + (paren < 0 ? "" : "(" + string.Join(", ", Parameters(parameters)) + ")");
        return (type, page.Contains($"<a id=\"{anchor}\"></a>", StringComparison.Ordinal) ? anchor : null, label);
    }
    // .NET and ML.NET: their reference on learn.microsoft.com (what DocFX itself links to); else (not public) the name as code.
    string last = Generic(parts[^1] == "#ctor" && parts.Length > 1 ? parts[^2] : parts[^1]) + (paren < 0 ? "" : "()");
    if (uid.StartsWith("System.", StringComparison.Ordinal) || uid.StartsWith("Microsoft.", StringComparison.Ordinal))
        return ("https://learn.microsoft.com/dotnet/api/" + path.Replace("#ctor", "-ctor", StringComparison.Ordinal).Replace('`', '-').ToLowerInvariant(), null, last);
    return (null, null, last);
}

// "(A.B,System.Collections.Generic.IReadOnlyList{System.Double})" -> ["B", "IReadOnlyList<double>"] (short names).
static IEnumerable<string> Parameters(string list)
{
    string inner = list.Trim('(', ')');
    if (inner.Length == 0) yield break;
    int depth = 0, start = 0;
    for (int i = 0; i <= inner.Length; i++)
    {
        if (i == inner.Length || (inner[i] == ',' && depth == 0))
        {
            yield return Short(inner[start..i]);
            start = i + 1;
        }
        else if (inner[i] == '{') depth++;
        else if (inner[i] == '}') depth--;
    }
}

static string Short(string type)
{
    type = type.TrimEnd('@');
    int brace = type.IndexOf('{');
    if (brace < 0) return Keyword(type.Split('.')[^1]);
    string outer = type[..brace].Split('.')[^1];
    return $"{outer}<{string.Join(", ", Parameters("(" + type[(brace + 1)..^1] + ")"))}>";
}

static string Keyword(string name) => name switch
{
    "String" => "string", "Int32" => "int", "Int64" => "long", "Double" => "double", "Single" => "float", "Boolean" => "bool",
    "Object" => "object", "Byte" => "byte", "Double[]" => "double[]", "Single[]" => "float[]", "Int32[]" => "int[]",
    _ => name,
};

static string Generic(string name) => Regex.Replace(name, "`(\\d+)", "");

static string Escape(string text) => text.Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);
