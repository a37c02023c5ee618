// Structured output on the demo model: a JSON Schema, a choice list and GBNF; generation
// in each form (callback, stream, job, chat) under a grammar; errors; state
// save/load/clone; masks against Accept.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using Moemamba;

static partial class BindingTests
{
    const string ActionSchema = "{\"type\":\"object\",\"properties\":{\"action\":{\"enum\":[\"attack\",\"flee\",\"talk\"]}," +
                                "\"target\":{\"type\":\"string\",\"maxLength\":12}},\"required\":[\"action\",\"target\"]," +
                                "\"additionalProperties\":false}";
    static readonly string[] s_actions = { "attack", "flee", "talk" };
    static readonly string[] s_choices = { "north", "south", "east", "west" };

    // A small JSON reader, enough to check the generated objects: objects become
    // Dictionary<string, object> (keys in order in the list beside it), arrays List<object>,
    // strings string, numbers double, true/false bool, null null.
    sealed class JsonReader
    {
        readonly string _s;
        int _at;
        JsonReader(string s) { _s = s; }

        public static object Parse(string text, List<string> keys)
        {
            var r = new JsonReader(text);
            var v = r.Value(keys);
            r.Space();
            if (r._at != text.Length) throw new FormatException("text after the value at " + r._at);
            return v;
        }

        void Space() { while (_at < _s.Length && " \t\r\n".IndexOf(_s[_at]) >= 0) _at++; }

        void Eat(char c)
        {
            Space();
            if (_at >= _s.Length || _s[_at] != c) throw new FormatException("expected '" + c + "' at " + _at);
            _at++;
        }

        object Value(List<string> keys)
        {
            Space();
            if (_at >= _s.Length) throw new FormatException("unexpected end");
            char c = _s[_at];
            if (c == '{')
            {
                _at++;
                var map = new Dictionary<string, object>();
                Space();
                if (_at < _s.Length && _s[_at] == '}') { _at++; return map; }
                while (true)
                {
                    Space();
                    string key = Str();
                    Eat(':');
                    if (map.ContainsKey(key)) throw new FormatException("duplicate key " + key);
                    map[key] = Value(null);
                    if (keys != null) keys.Add(key);
                    Space();
                    if (_at < _s.Length && _s[_at] == ',') { _at++; continue; }
                    Eat('}');
                    return map;
                }
            }
            if (c == '[')
            {
                _at++;
                var list = new List<object>();
                Space();
                if (_at < _s.Length && _s[_at] == ']') { _at++; return list; }
                while (true)
                {
                    list.Add(Value(null));
                    Space();
                    if (_at < _s.Length && _s[_at] == ',') { _at++; continue; }
                    Eat(']');
                    return list;
                }
            }
            if (c == '"') return Str();
            if (Literal("true")) return true;
            if (Literal("false")) return false;
            if (Literal("null")) return null;
            int start = _at;
            while (_at < _s.Length && "+-.eE0123456789".IndexOf(_s[_at]) >= 0) _at++;
            double d;
            if (!double.TryParse(_s.Substring(start, _at - start), NumberStyles.Float, CultureInfo.InvariantCulture, out d))
                throw new FormatException("bad value at " + start);
            return d;
        }

        bool Literal(string word)
        {
            if (string.CompareOrdinal(_s, _at, word, 0, word.Length) != 0) return false;
            _at += word.Length;
            return true;
        }

        string Str()
        {
            if (_at >= _s.Length || _s[_at] != '"') throw new FormatException("expected a string at " + _at);
            _at++;
            var sb = new StringBuilder();
            while (true)
            {
                if (_at >= _s.Length) throw new FormatException("unterminated string");
                char c = _s[_at++];
                if (c == '"') return sb.ToString();
                if (c < 0x20) throw new FormatException("control character in a string");
                if (c != '\\') { sb.Append(c); continue; }
                if (_at >= _s.Length) throw new FormatException("unterminated escape");
                char e = _s[_at++];
                switch (e)
                {
                    case '"': case '\\': case '/': sb.Append(e); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'u':
                        sb.Append((char)int.Parse(_s.Substring(_at, 4), NumberStyles.HexNumber));
                        _at += 4;
                        break;
                    default: throw new FormatException("bad escape at " + _at);
                }
            }
        }
    }

    static void CheckAction(string text)
    {
        var keys = new List<string>();
        object value;
        try { value = JsonReader.Parse(text, keys); }
        catch (FormatException e) { throw new Exception("'" + text + "' is not JSON: " + e.Message); }
        var map = value as Dictionary<string, object>;
        Require(map != null, "'" + text + "' is an object");
        Require(keys.SequenceEqual(new[] { "action", "target" }), "'" + text + "': action then target, nothing else");
        Require(map["action"] is string && s_actions.Contains((string)map["action"]), "'" + text + "': action");
        var target = map["target"] as string;
        Require(target != null && StringInfoLength(target) <= 12, "'" + text + "': target of at most 12 characters");
    }

    static int StringInfoLength(string s) { return new StringInfo(s).LengthInTextElements; }

    static Sampler SamplerAt(ulong seed)
    {
        var p = Sampler.Defaults();
        p.Temperature = 1.0f;
        p.Seed = seed;
        return new Sampler(p);
    }

    static string GenerateText(Session s, Sampler sampler, string prompt, int maxTokens, GrammarState state)
    {
        var sb = new StringBuilder();
        s.Generate(sampler, prompt, maxTokens, (t, text) => { sb.Append(text); return true; }, state);
        return sb.ToString();
    }

    static void AcceptText(Model m, GrammarState state, string text)
    {
        foreach (int t in m.Tokenize(text)) state.Accept(t);
    }

    static void RunGrammarTests()
    {
        using (var rt = new Runtime(1))
        using (var m = rt.LoadFile(DemoBundle()))
        using (var schema = Grammar.FromJsonSchema(m, ActionSchema))
        using (var choice = Grammar.FromChoices(m, s_choices))
        {
            Run("generation under a JSON Schema gives objects the schema accepts", () => {
                for (ulong seed = 1; seed <= 4; seed++)
                {
                    using (var s = m.CreateSession())
                    using (var sampler = SamplerAt(seed))
                    using (var state = schema.CreateState())
                    {
                        string text = GenerateText(s, sampler, "The orc", 200, state);
                        Require(state.CanEnd, "seed " + seed + ": unfinished '" + text + "'");
                        CheckAction(text);
                    }
                    using (var s = m.CreateSession())
                    using (var sampler = SamplerAt(seed))
                    using (var state = schema.CreateState())
                    {
                        string text = string.Concat(s.Stream(m, sampler, "The orc", 200, state));
                        Require(state.CanEnd, "stream, seed " + seed + ": unfinished '" + text + "'");
                        CheckAction(text);
                    }
                }
            });

            Run("a choice grammar gives one of the choices", () => {
                for (ulong seed = 5; seed <= 7; seed++)
                {
                    using (var s = m.CreateSession())
                    using (var sampler = SamplerAt(seed))
                    using (var state = choice.CreateState())
                    {
                        string text = GenerateText(s, sampler, "We walked", 50, state);
                        Require(s_choices.Contains(text), "seed " + seed + ": '" + text + "'");
                        Require(state.CanEnd && state.MustEnd, "complete");
                    }
                    // A job takes its own copy of the state: the one given stays at the start.
                    using (var s = m.CreateSession())
                    using (var sampler = SamplerAt(seed))
                    using (var start = choice.CreateState())
                    using (var job = s.Submit(sampler, "We walked", 50, grammar: start))
                    {
                        Require(job.Wait(60000), "the job finishes");
                        string text = job.Poll();
                        Require(job.Status == Native.Ok, "job status " + job.Status);
                        Require(s_choices.Contains(text), "job, seed " + seed + ": '" + text + "'");
                        Require(!start.CanEnd, "the state given is unchanged");
                    }
                }
                var e = Throws<MoemambaException>(() => Grammar.FromChoices(m, new string[0]).Dispose());
                Require(e.Status == Native.ErrInvalidArgument, "no items: " + e);
                Throws<GrammarException>(() => Grammar.FromChoices(m, new[] { "a", "" }).Dispose());
            });

            Run("GBNF compiles; errors name the line", () => {
                using (var g = Grammar.FromGbnf(m, "root ::= \"yes\" | \"no\"\n"))
                using (var s = m.CreateSession())
                using (var sampler = SamplerAt(1))
                using (var state = g.CreateState())
                {
                    string text = GenerateText(s, sampler, "Is it", 20, state);
                    Require(text == "yes" || text == "no", "'" + text + "'");
                }
                Grammar.FromGbnf(m, "answer ::= [0-9]+\n", root: "answer", maskCacheBytes: 0).Dispose();
                var e = Throws<GrammarException>(() => Grammar.FromGbnf(m, "root ::= (\"a\"").Dispose());
                Require(e.Status == Native.ErrGrammar && e.StatusName == "MMB_ERR_GRAMMAR" && e.Detail.Contains("line 1"),
                        "a bad grammar: " + e);
                Throws<GrammarException>(() => Grammar.FromJsonSchema(m, "{\"type\": ").Dispose());
                Throws<GrammarException>(() => Grammar.FromJsonSchema(m, "{\"type\":\"string\",\"pattern\":\"^a\"}").Dispose());
            });

            Run("grammar states save, load and clone", () => {
                using (var g = Grammar.FromJsonSchema(m, ActionSchema, jsonWhitespace: 0))
                using (var state = g.CreateState())
                {
                    AcceptText(m, state, "{\"action\":\"fl");
                    Require(!state.CanEnd, "a prefix is not complete");
                    var blob = state.Save();
                    using (var copy = state.Clone())
                    using (var loaded = g.CreateState())
                    {
                        loaded.Load(blob);
                        var mask = state.GetMask();
                        Require(copy.GetMask().SequenceEqual(mask) && loaded.GetMask().SequenceEqual(mask), "same masks");
                        Require(loaded.Save().SequenceEqual(blob), "a loaded state saves the same");
                        AcceptText(m, copy, "ee\",\"target\":\"wolf\"}");
                        Require(copy.CanEnd && copy.MustEnd, "the copy's object is complete");
                        Require(!state.CanEnd, "the original did not move");
                        AcceptText(m, loaded, "ee\",\"target\":\"bear\"}");
                        Require(loaded.CanEnd, "the loaded state's object is complete");
                    }
                    Throws<GrammarException>(() => state.Accept(m.Tokenize("}")[0]));
                    Require(state.Save().SequenceEqual(blob), "a refused token changes nothing");
                    state.Reset();
                    using (var fresh = g.CreateState())
                        Require(state.GetMask().SequenceEqual(fresh.GetMask()), "reset is the start");
                    using (var other = choice.CreateState())
                    {
                        var e = Throws<MoemambaException>(() => other.Load(blob));
                        Require(e.Status == Native.ErrStateMismatch, "another grammar's state: " + e);
                    }
                    var damaged = (byte[])blob.Clone();
                    damaged[damaged.Length - 1] ^= 0x5a;
                    var d = Throws<MoemambaException>(() => state.Load(damaged));
                    Require(d.Status == Native.ErrFormat || d.Status == Native.ErrStateMismatch, "damaged: " + d);
                }
                var closed = schema.CreateState();
                closed.Dispose();
                Throws<ObjectDisposedException>(() => closed.Accept(0));
            });

            Run("the grammar mask agrees with Accept, Apply and sampling", () => {
                using (var state = schema.CreateState())
                {
                    AcceptText(m, state, "{");
                    var mask = state.GetMask();
                    int vocab = m.Info.VocabSize;
                    Require(mask.Length == vocab && state.GetMaskWords().Length == (vocab + 31) / 32, "sizes");
                    var allowed = Enumerable.Range(0, vocab).Where(t => mask[t]).ToList();
                    var refused = Enumerable.Range(0, vocab).Where(t => !mask[t]).ToList();
                    Require(allowed.Count > 0 && refused.Count > 0, allowed.Count + " allowed, " + refused.Count + " refused");
                    var picks = allowed.Take(6).Concat(refused.Where((t, i) => i % (refused.Count / 6 + 1) == 0).Take(6));
                    foreach (int t in picks)
                    {
                        using (var probe = state.Clone())
                        {
                            bool accepted = true;
                            try { probe.Accept(t); }
                            catch (GrammarException) { accepted = false; }
                            Require(accepted == mask[t], "token " + t + ": mask " + mask[t] + ", accepted " + accepted);
                        }
                    }
                    var logits = Enumerable.Repeat(0.5f, vocab).ToArray();
                    state.Apply(logits);
                    for (int t = 0; t < vocab; t++)
                        Require(float.IsNegativeInfinity(logits[t]) == !mask[t], "token " + t + " after Apply");
                    var e = Throws<MoemambaException>(() => state.Apply(new float[vocab - 1]));
                    Require(e.Status == Native.ErrInvalidArgument, "short logits: " + e);
                    using (var sampler = SamplerAt(3))
                    {
                        var flat = new float[vocab];
                        for (int i = 0; i < 4; i++)
                            using (var probe = state.Clone())
                            {
                                int t = sampler.SampleGrammar(probe, flat);
                                Require(mask[t], "sampled refused token " + t);
                            }
                    }
                }
            });
        }

        string dir = Path.Combine(Path.GetTempPath(), "moemamba-cs-grammar-" + Process.GetCurrentProcess().Id);
        Directory.CreateDirectory(dir);
        try
        {
            Run("a chat reply under a grammar is one of the choices", () => {
                string bundle = PackWithTemplate(dir, "chatml", ChatMl);
                using (var rt = new Runtime(1))
                using (var m = rt.LoadFile(bundle))
                using (var g = Grammar.FromChoices(m, s_choices))
                using (var state = g.CreateState())
                using (var chat = m.CreateChat())
                using (var sampler = SamplerAt(9))
                {
                    chat.Add("user", "Which way?");
                    var reply = chat.Generate(sampler, 50, null, state);
                    Require(s_choices.Contains(reply.Text) && state.CanEnd, "reply '" + reply.Text + "'");
                }
            });
        }
        finally { Directory.Delete(dir, true); }
    }
}
