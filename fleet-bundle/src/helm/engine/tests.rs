//! Template semantics checked against the real `helm` (v4.1.4): every expected text
//! below is what `helm template` printed for the same template, values and chart.

use super::*;
use crate::helm::chart::ChartFile;

/// The `values.yaml` the expectations were produced with.
const VALUES: &str = r#"
s: hello
m:
  b: 2
  a: 1
  c: three
l: [1, 2, 3, 4]
empty: []
no: false
f: 2.5
i: 3
big: 1000000
small: 0.00001
nullv: null
nested:
  a:
    b: deep
tplstr: "{{ .Values.m.a }}-x"
"#;

/// The partial the error cases were produced with.
const ERROR_PARTIALS: &str = r#"{{- define "case" -}}{{ .Values.missing.deep }}{{- end -}}{{- define "failer" -}}
{{ fail "inner boom" }}{{- end -}}"#;

fn chart(templates: Vec<(&str, String)>) -> Chart {
    Chart {
        // What the loader gives for this Chart.yaml (Helm 4 exposes every field).
        metadata: serde_json::json!({
            "APIVersion": "v2", "Annotations": {}, "AppVersion": "1.2.3", "Condition": "",
            "Dependencies": [], "Deprecated": false, "Description": "", "Home": "", "Icon": "",
            "IsRoot": true, "Keywords": [], "KubeVersion": "", "Maintainers": [], "Name": "sem",
            "Sources": [], "Tags": "", "Type": "", "Version": "0.1.0"
        }),
        name: "sem".into(),
        templates: templates
            .into_iter()
            .map(|(n, t)| ChartFile {
                name: n.to_string(),
                data: t.into_bytes(),
            })
            .collect(),
        files: vec![
            ChartFile {
                name: "files/a.txt".into(),
                data: b"line1\nline2\n".to_vec(),
            },
            ChartFile {
                name: "files/b.txt".into(),
                data: b"bee".to_vec(),
            },
        ],
        ..Chart::default()
    }
}

fn values() -> serde_json::Value {
    crate::helm::yaml11::into_helm_numbers(crate::helm::yaml11::parse_first(VALUES).unwrap())
}

fn ctx() -> RenderContext {
    RenderContext {
        release_name: "rel".into(),
        namespace: "ns".into(),
        kube_version: "1.31.0".into(),
        ..RenderContext::default()
    }
}

/// Renders `tpl` as the body of `define "case"` (next to `defs`) and returns its raw
/// output, before Helm's `<no value>` clean-up, as the expectations were captured.
fn render_case(defs: &str, tpl: &str) -> Result<String, EngineError> {
    use base64::Engine as _;
    let c = chart(vec![
        ("templates/_defs.tpl", defs.to_string()),
        (
            "templates/_case.tpl",
            format!("{{{{- define \"case\" -}}}}{tpl}{{{{- end -}}}}"),
        ),
        (
            "templates/t.yaml",
            "# r: {{ include \"case\" . | b64enc }}\n".to_string(),
        ),
    ]);
    let out = render(&c, &values(), &ctx())?;
    let text = &out["sem/templates/t.yaml"];
    let b64 = text.trim_start_matches("# r: ").trim_end();
    Ok(String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap())
}

/// (name, defines, template, what Helm printed).
const CASES: &[(&str, &str, &str, &str)] = &[
    (
        "pipeline_last_arg",
        r#""#,
        r#"{{ "x" | printf "%s-%s" "a" }}"#,
        r#"a-x"#,
    ),
    (
        "var_scope_assign",
        r#""#,
        r#"{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ end }}{{ $x }}"#,
        r#"2"#,
    ),
    (
        "range_map_sorted",
        r#""#,
        r#"{{ range $k, $v := .Values.m }}{{ $k }}={{ $v }};{{ end }}"#,
        r#"a=1;b=2;c=three;"#,
    ),
    (
        "range_list_index",
        r#""#,
        r#"{{ range $i, $v := .Values.l }}{{ $i }}:{{ $v }} {{ end }}"#,
        r#"0:1 1:2 2:3 3:4 "#,
    ),
    (
        "range_one_var",
        r#""#,
        r#"{{ range $v := .Values.l }}[{{ $v }}]{{ end }}"#,
        r#"[1][2][3][4]"#,
    ),
    (
        "range_else",
        r#""#,
        r#"{{ range .Values.empty }}x{{ else }}empty{{ end }}"#,
        r#"empty"#,
    ),
    (
        "range_int",
        r#""#,
        r#"{{ range 3 }}{{ . }}{{ end }}"#,
        r#"012"#,
    ),
    (
        "range_break_continue",
        r#""#,
        r#"{{ range $i, $v := .Values.l }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ if eq $i 3 }}{{ break }}{{ end }}{{ $v }}{{ end }}"#,
        r#"13"#,
    ),
    (
        "if_else_if",
        r#""#,
        r#"{{ if .Values.no }}a{{ else if .Values.s }}b{{ else }}c{{ end }}"#,
        r#"b"#,
    ),
    (
        "with_else",
        r#""#,
        r#"{{ with .Values.missing }}has{{ else }}none{{ end }}|{{ with .Values.s }}{{ . }}{{ end }}"#,
        r#"none|hello"#,
    ),
    (
        "with_else_with",
        r#""#,
        r#"{{ with .Values.missing }}a{{ else with .Values.s }}b={{ . }}{{ end }}"#,
        r#"b=hello"#,
    ),
    (
        "trim_markers",
        r#""#,
        r#"a  
  {{- "b" -}}  
  c"#,
        r#"abc"#,
    ),
    (
        "comment",
        r#""#,
        r#"a{{/* hidden */}}b{{- /* trimmed */ -}} c"#,
        r#"abc"#,
    ),
    (
        "and_or_operands",
        r#""#,
        r#"{{ and 1 "x" 0 }}|{{ or 0 "" "y" }}|{{ and 1 2 }}|{{ or 0 false }}"#,
        r#"0|y|2|false"#,
    ),
    (
        "not_and_truth",
        r#""#,
        r#"{{ not 0 }} {{ not "" }} {{ not .Values.m }} {{ not .Values.empty }}"#,
        r#"true true false true"#,
    ),
    (
        "eq_multi",
        r#""#,
        r#"{{ eq .Values.s "a" "hello" }} {{ eq 1 2 3 1 }} {{ ne "a" "b" }}"#,
        r#"true true true"#,
    ),
    (
        "compare_numbers",
        r#""#,
        r#"{{ lt 1 2 }} {{ gt .Values.f 1.5 }} {{ le "a" "b" }} {{ ge 2 2 }}"#,
        r#"true true true true"#,
    ),
    (
        "index_nested",
        r#""#,
        r#"{{ index .Values.m "b" }} {{ index .Values.l 2 }} {{ index .Values.nested "a" "b" }}"#,
        r#"2 3 deep"#,
    ),
    (
        "index_missing",
        r#""#,
        r#"{{ index .Values.m "zz" }}"#,
        r#"<no value>"#,
    ),
    (
        "len_things",
        r#""#,
        r#"{{ len .Values.l }} {{ len .Values.m }} {{ len "héllo" }}"#,
        r#"4 3 6"#,
    ),
    (
        "print_family",
        r#""#,
        r#"{{ print 1 2 "a" "b" 3 }}|{{ println "x" 1 }}|{{ print nil }}"#,
        r#"1 2ab3|x 1
|<nil>"#,
    ),
    (
        "printf_verbs",
        r#""#,
        r#"{{ printf "%d %5.2f %q %v %x %t %T %T %s" 42 3.14159 "q" .Values.l 255 true .Values.f .Values.i "s" }}"#,
        r#"42  3.14 "q" [1 2 3 4] ff true float64 float64 s"#,
    ),
    (
        "printf_errors",
        r#""#,
        r#"{{ printf "%d %s" "str" }}"#,
        r#"%!d(string=str) %!s(MISSING)"#,
    ),
    (
        "escapers",
        r#""#,
        r#"{{ html "<a href='x'>&</a>" }}|{{ js "it's <b>\"" }}|{{ urlquery "a b&c=d" }}"#,
        r#"&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;|it\'s \u003Cb\u003E\"|a+b%26c%3Dd"#,
    ),
    (
        "missing_value",
        r#""#,
        r#"a={{ .Values.missing }};b={{ .Values.nullv }};c={{ $.Values.missing }}"#,
        r#"a=<no value>;b=<no value>;c=<no value>"#,
    ),
    (
        "missing_in_function",
        r#""#,
        r#"{{ .Values.missing | quote }}|{{ .Values.missing | default "d" }}|{{ toYaml .Values.missing }}"#,
        r#"|d|null"#,
    ),
    (
        "float_printing",
        r#""#,
        r#"{{ .Values.f }} {{ .Values.big }} {{ .Values.i }} {{ .Values.small }} {{ 1e6 }} {{ 3.0 }}"#,
        r#"2.5 1e+06 3 1e-05 1e+06 3"#,
    ),
    (
        "int_vs_float",
        r#""#,
        r#"{{ typeOf .Values.i }} {{ typeOf 3 }} {{ kindOf .Values.m }} {{ typeOf .Values.l }} {{ kindOf .Values.s }} {{ typeOf (add 1 2) }}"#,
        r#"float64 int map []interface {} string int64"#,
    ),
    (
        "define_template_block",
        r#"{{ define "inner" }}[{{ . }}]{{ end }}"#,
        r#"{{ template "inner" "x" }}{{ block "blk" "y" }}<{{ . }}>{{ end }}"#,
        r#"[x]<y>"#,
    ),
    (
        "include_dynamic",
        r#"{{ define "n1" }}one{{ end }}"#,
        r#"{{ $n := "n1" }}{{ include $n . }}|{{ include (printf "n%d" 1) . | upper }}"#,
        r#"one|ONE"#,
    ),
    (
        "include_scope",
        r#"{{ define "sc" }}{{ .a }}-{{ $.a }}{{ end }}"#,
        r#"{{ include "sc" (dict "a" "A") }}"#,
        r#"A-A"#,
    ),
    (
        "tpl_scope",
        r#""#,
        r#"{{ tpl "{{ .Values.s }}-{{ .Release.Name }}" . }}|{{ tpl .Values.tplstr . }}"#,
        r#"hello-rel|1-x"#,
    ),
    (
        "tpl_define",
        r#""#,
        r#"{{ tpl "{{ define \"tdef\" }}T{{ end }}{{ include \"tdef\" . }}" . }}"#,
        r#"T"#,
    ),
    (
        "release_caps",
        r#""#,
        r#"{{ .Release.Name }} {{ .Release.Namespace }} {{ .Release.Revision }} {{ .Release.IsInstall }} {{ .Release.Service }} {{ .Capabilities.KubeVersion.Version }} {{ .Capabilities.KubeVersion.Minor }} {{ .Capabilities.APIVersions.Has "apps/v1" }} {{ .Capabilities.APIVersions.Has "nope/v1" }}"#,
        r#"rel ns 1 true Helm v1.31.0 31 true false"#,
    ),
    (
        "template_names",
        r#""#,
        r#"{{ .Template.Name }} {{ .Template.BasePath }} {{ .Chart.Name }} {{ .Chart.Version }} {{ .Chart.AppVersion }}"#,
        r#"sem/templates/t.yaml sem/templates sem 0.1.0 1.2.3"#,
    ),
    (
        "files",
        r#""#,
        r#"{{ .Files.Get "files/a.txt" }}|{{ range .Files.Lines "files/a.txt" }}<{{ . }}>{{ end }}|{{ (.Files.Glob "files/*").AsConfig }}"#,
        r#"line1
line2
|<line1><line2>|a.txt: |
  line1
  line2
b.txt: bee"#,
    ),
    (
        "toyaml_mixed",
        r#""#,
        r#"{{ toYaml .Values }}"#,
        r#"big: 1000000
empty: []
f: 2.5
"false": false
i: 3
l:
- 1
- 2
- 3
- 4
m:
  a: 1
  b: 2
  c: three
nested:
  a:
    b: deep
nullv: null
s: hello
small: 1e-05
tplstr: '{{ .Values.m.a }}-x'"#,
    ),
    (
        "toyaml_nindent",
        r#""#,
        r#"x:{{ toYaml .Values.m | nindent 2 }}"#,
        r#"x:
  a: 1
  b: 2
  c: three"#,
    ),
    (
        "tojson",
        r#""#,
        r#"{{ toJson .Values.m }} {{ toJson .Values.l }} {{ .Values.m | toRawJson }}"#,
        r#"{"a":1,"b":2,"c":"three"} [1,2,3,4] {"a":1,"b":2,"c":"three"}"#,
    ),
    (
        "dict_set_merge",
        r#""#,
        r#"{{ $d := dict "a" 1 "b" (dict "c" 2) }}{{ $_ := set $d "z" 3 }}{{ $m := merge (dict "a" 9 "x" 8) $d }}{{ toJson $m }}|{{ toJson (mergeOverwrite (dict "a" 1 "n" (dict "p" 1 "q" 2)) (dict "a" 2 "n" (dict "q" 3))) }}"#,
        r#"{"a":9,"b":{"c":2},"x":8,"z":3}|{"a":2,"n":{"p":1,"q":3}}"#,
    ),
    (
        "set_mutates_values",
        r#""#,
        r#"{{ $_ := set .Values.m "added" "yes" }}{{ .Values.m.added }}"#,
        r#"yes"#,
    ),
    (
        "default_empty",
        r#""#,
        r#"{{ default "d" "" }} {{ default "d" 0 }} {{ default "d" "v" }} {{ empty .Values.empty }} {{ coalesce "" .Values.missing "c" }} {{ ternary "y" "n" true }}"#,
        r#"d d v true c y"#,
    ),
    (
        "strings_misc",
        r#""#,
        r#"{{ trunc 5 "abcdefgh" }} {{ trimSuffix "-" "a-" }} {{ "Hello" | lower }} {{ title "hello world" }} {{ replace "a" "b" "aaa" }} {{ contains "ell" "hello" }} {{ repeat 3 "ab" }} {{ substr 1 3 "hello" }} {{ "a,b" | splitList "," }} {{ join "-" .Values.l }} {{ quote "x" 1 }} {{ squote "y" }} {{ indent 2 "a\nb" }} {{ cat "a" nil "b" }}"#,
        r#"abcde a hello Hello World bbb true ababab el [a b] 1-2-3-4 "x" "1" 'y'   a
  b a b"#,
    ),
    (
        "lists_misc",
        r#""#,
        r#"{{ list 1 2 | toJson }} {{ append .Values.l 9 }} {{ first .Values.l }} {{ last .Values.l }} {{ uniq (list 1 1 2) }} {{ has 2 .Values.l }} {{ without .Values.l 1 }} {{ concat (list 1) (list 2 3) }} {{ until 3 }} {{ sortAlpha (list "b" "a") }} {{ reverse .Values.l }} {{ compact (list "" 1 0 "a") }} {{ slice .Values.l 1 3 }}"#,
        r#"[1,2] [1 2 3 4 9] 1 4 [1 2] false [1 2 3 4] [1 2 3] [0 1 2] [a b] [4 3 2 1] [1 a] [2 3]"#,
    ),
    (
        "math_misc",
        r#""#,
        r#"{{ add 1 2 }} {{ sub 5 2 }} {{ mul 2 3 }} {{ div 7 2 }} {{ mod 7 2 }} {{ add1 .Values.i }} {{ max 1 5 3 }} {{ min 4 2 }} {{ int "42" }} {{ int .Values.f }} {{ float64 3 }} {{ mulf 0.1 3 }} {{ divf 1 3 }} {{ floor 1.5 }} {{ ceil 1.2 }} {{ round 3.14159 2 }}"#,
        r#"3 3 6 3 1 4 5 2 42 2 3 0.3 0.3333333333333333 1 2 3.14"#,
    ),
    (
        "regex_misc",
        r#""#,
        r#"{{ regexMatch "^a.c$" "abc" }} {{ regexFind "[0-9]+" "ab12" }} {{ regexReplaceAll "a(x*)b" "-axxb-" "${1}W" }} {{ regexSplit "," "a,b,c" -1 }}"#,
        r#"true 12 -xxW- [a b c]"#,
    ),
    (
        "encoding_crypto",
        r#""#,
        r#"{{ b64enc "hello" }} {{ b64dec "aGVsbG8=" }} {{ sha256sum "abc" }} {{ sha1sum "abc" }} {{ adler32sum "abc" }} {{ b32enc "hi" }}"#,
        r#"aGVsbG8= hello ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad a9993e364706816aba3e25717850c26c9cd0d89d 38600999 NBUQ===="#,
    ),
    (
        "semver_misc",
        r#""#,
        r#"{{ semverCompare ">=1.19-0" .Capabilities.KubeVersion.GitVersion }} {{ semverCompare "<1.20" "1.31.0" }} {{ (semver "1.2.3-rc.1").Minor }}"#,
        r#"true false 2"#,
    ),
    (
        "dig_get_keys",
        r#""#,
        r#"{{ dig "a" "b" "def" .Values.nested }} {{ dig "a" "x" "def" .Values.nested }} {{ get .Values.m "a" }} {{ keys .Values.m | sortAlpha }} {{ hasKey .Values.m "b" }} {{ pluck "a" .Values.m (dict "a" 7) }} {{ values (dict "x" 1) }}"#,
        r#"deep def 1 [a b c] true [1 7] [1]"#,
    ),
    (
        "fromyaml",
        r#""#,
        r#"{{ $y := fromYaml "a: 1\nb: [x, y]\nc: yes" }}{{ $y.a }} {{ $y.b }} {{ $y.c }} {{ typeOf $y.a }}|{{ (fromYaml "{bad").Error | empty | not }}|{{ fromYamlArray "- 1\n- a" }}"#,
        r#"1 [x true] true float64|true|[1 a]"#,
    ),
    (
        "fromjson",
        r#""#,
        r#"{{ $j := fromJson "{\"a\": 1, \"b\": [true]}" }}{{ $j.a }} {{ $j.b }}"#,
        r#"1 [true]"#,
    ),
    (
        "nested_field_method",
        r#""#,
        r#"{{ (.Files.Glob "files/*").AsSecrets }}"#,
        r#"a.txt: bGluZTEKbGluZTIK
b.txt: YmVl"#,
    ),
    (
        "chain_on_pipe",
        r#""#,
        r#"{{ (dict "a" (dict "b" "deep")).a.b }}"#,
        r#"deep"#,
    ),
    (
        "lookup_empty",
        r#""#,
        r#"{{ lookup "v1" "Secret" "ns" "name" }}|{{ (lookup "v1" "Secret" "ns" "name").data }}"#,
        r#"map[]|<no value>"#,
    ),
    (
        "bytes_print",
        r#""#,
        r#"{{ .Files.GetBytes "files/a.txt" }}"#,
        r#"[108 105 110 101 49 10 108 105 110 101 50 10]"#,
    ),
    (
        "char_const",
        r#""#,
        r#"{{ 'a' }} {{ printf "%c" 'b' }}"#,
        r#"97 b"#,
    ),
    (
        "numbers_literal",
        r#""#,
        r#"{{ 0x10 }} {{ 1_000 }} {{ -5 }} {{ 1.5e3 }} {{ 0o17 }}"#,
        r#"16 1000 -5 1500 15"#,
    ),
    (
        "yaml_quoting",
        r#""#,
        r#"{{ toYaml (dict "t" "true" "n" "123" "e" "" "s" "a: b" "d" "- x" "ml" "a\nb\n" "y" "y" "star" "*x" "f" "1.5" "date" "2024-01-01" "sp" " lead" "hash" "a #b" "ok" "plain text") }}"#,
        r#"d: '- x'
date: "2024-01-01"
e: ""
f: "1.5"
hash: 'a #b'
ml: |
  a
  b
"n": "123"
ok: plain text
s: 'a: b'
sp: ' lead'
star: '*x'
t: "true"
"y": "y""#,
    ),
    (
        "yaml_long",
        r#""#,
        r#"{{ toYaml (dict "long" "aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr ssss") }}"#,
        r#"long: aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp
  qqqq rrrr ssss"#,
    ),
    (
        "yaml_floats",
        r#""#,
        r#"{{ toYaml (list 1.0 1.5 1000000.0 0.0000001 123456789.5 -0.5 1e21 100) }}"#,
        r#"- 1
- 1.5
- 1000000
- 1e-07
- 1.234567895e+08
- -0.5
- 1e+21
- 100"#,
    ),
    (
        "yaml_keys",
        r#""#,
        r#"{{ toYaml (dict "a10" 1 "a2" 2 "B" 3 "1" 4 "_x" 5 "b" 6) }}"#,
        r#"_x: 5
"1": 4
B: 3
a2: 2
a10: 1
b: 6"#,
    ),
    (
        "yaml_nested_lists",
        r#""#,
        r#"{{ toYaml (dict "l" (list (list 1 2) (dict "a" 1 "b" (list 3)) (dict) (list))) }}"#,
        r#"l:
- - 1
  - 2
- a: 1
  b:
  - 3
- {}
- []"#,
    ),
    (
        "yaml_literal_lead",
        r#""#,
        r#"{{ toYaml (dict "a" "  x\ny" "b" "x\n\n" "c" "tab\there" "d" "x \ny" "e" "é ü") }}"#,
        r#"a: |2-
    x
  y
b: |+
  x

c: "tab\there"
d: "x \ny"
e: é ü"#,
    ),
    (
        "toml",
        r#""#,
        r#"{{ toToml (dict "a" 1 "b" (dict "c" "x") "s" "str") }}"#,
        r#"a = 1
s = "str"

[b]
  c = "x"
"#,
    ),
    (
        "dates_fixed",
        r#""#,
        r#"{{ date "2006-01-02" 0 }} {{ dateInZone "2006-01-02T15:04:05Z07:00" 86400 "UTC" }} {{ duration 95 }} {{ unixEpoch (toDate "2006-01-02" "2024-03-05") }}"#,
        r#"1970-01-01 1970-01-02T00:00:00Z 0s 1709596800"#,
    ),
    (
        "url_path",
        r#""#,
        r#"{{ base "a/b/c.txt" }} {{ dir "a/b/c.txt" }} {{ ext "x.tar.gz" }} {{ clean "a//b/../c" }} {{ (urlParse "https://u@h:8/p?q=1#f").host }} {{ urlJoin (dict "scheme" "http" "host" "h" "path" "/p") }}"#,
        r#"c.txt a/b .gz a/c h:8 http://h/p"#,
    ),
    (
        "required_ok",
        r#""#,
        r#"{{ required "need s" .Values.s }}"#,
        r#"hello"#,
    ),
    (
        "type_checks",
        r#""#,
        r#"{{ kindIs "map" .Values.m }} {{ kindIs "slice" .Values.l }} {{ typeIs "float64" .Values.f }} {{ typeIs "string" .Values.s }} {{ kindOf nil }} {{ typeOf nil }} {{ kindIs "invalid" .Values.missing }}"#,
        r#"true true true true invalid <nil> true"#,
    ),
    (
        "string_conv",
        r#""#,
        r#"{{ toString 1.5 }} {{ toString .Values.l }} {{ toString nil }} {{ .Values.m | toString }} {{ toStrings (list 1 "a") }}"#,
        r#"1.5 [1 2 3 4] <nil> map[a:1 b:2 c:three] [1 a]"#,
    ),
    (
        "camel_snake",
        r#""#,
        r#"{{ camelcase "http_server_x" }} {{ snakecase "HTTPServer" }} {{ kebabcase "FooBar" }} {{ untitle "Hello World" }} {{ swapcase "aB" }} {{ nospace "a b c" }} {{ initials "foo bar" }} {{ abbrev 5 "hello world" }} {{ wrap 5 "aaa bbb ccc" }} {{ plural "one" "many" 2 }}"#,
        r#"HttpServerX http_server foo-bar hello world Ab abc fb he... aaa
bbb
ccc many"#,
    ),
    (
        "map_print",
        r#""#,
        r#"{{ .Values.m }} {{ .Values.nested }} {{ dict }} {{ list }}"#,
        r#"map[a:1 b:2 c:three] map[a:map[b:deep]] map[] []"#,
    ),
    (
        "assign_in_range",
        r#""#,
        r#"{{ $last := "" }}{{ range .Values.l }}{{ $last = . }}{{ end }}{{ $last }}"#,
        r#"4"#,
    ),
    (
        "dot_in_range_root",
        r#""#,
        r#"{{ range .Values.l }}{{ $.Values.s }}{{ end }}"#,
        r#"hellohellohellohello"#,
    ),
    (
        "duration_types",
        r#""#,
        r#"{{ duration 95 }} {{ duration "95" }} {{ duration (int64 3700) }}"#,
        r#"0s 1m35s 1h1m40s"#,
    ),
    (
        "yaml_specials",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r##"{{ toYaml (list "null" "~" "0755" "1e3" ".5" "+1" "-" "- " "?" ":" "a:b" "http://x/y?z=1#f" "#" "@x" "`x" "%x" "!x" "&x" "|" ">" "'" "\"" "{" "[" "]" "}" "," " " "x " "a\tb" "日本語" "a  b" "0x" "0b101" "1_000" "12:30:00" "2024-01-02T03:04:05Z" "Yes" "OFF" "n" "=" "<<" "a,b" "a]b" "a#b" "x: " ".inf" "-.Inf" "NaN" "true " "1.2.3" "v1.0" "0.1.2" "1e" "e3" "--x" "---" "..." "...x" "a\u00a0b" "\u00e9" "é") }}"##,
        r#"- "null"
- "~"
- "0755"
- "1e3"
- ".5"
- "+1"
- '-'
- '- '
- '?'
- ':'
- a:b
- http://x/y?z=1#f
- '#'
- '@x'
- '`x'
- '%x'
- '!x'
- '&x'
- '|'
- '>'
- ''''
- '"'
- '{'
- '['
- ']'
- '}'
- ','
- ' '
- 'x '
- "a\tb"
- 日本語
- a  b
- 0x
- "0b101"
- "1_000"
- "12:30:00"
- "2024-01-02T03:04:05Z"
- "Yes"
- "OFF"
- "n"
- =
- <<
- a,b
- a]b
- a#b
- 'x: '
- ".inf"
- "-.Inf"
- NaN
- 'true '
- 1.2.3
- v1.0
- 0.1.2
- 1e
- e3
- --x
- '---'
- '...'
- '...x'
- a b
- é
- é"#,
    ),
    (
        "yaml_keys_special",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ toYaml (dict "on" 1 "yes" 2 "1.0" 3 "a b" 4 "a: b" 5 "" 6 "-" 7 "null" 8 "k#x" 9 "x y: z" 10) }}"#,
        r#""": 6
'-': 7
"1.0": 3
a b: 4
'a: b': 5
k#x: 9
"null": 8
"on": 1
'x y: z': 10
"yes": 2"#,
    ),
    (
        "yaml_long_nospace",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ toYaml (dict "k" (repeat 120 "x")) }}"#,
        r#"k: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"#,
    ),
    (
        "yaml_long_quoted",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ toYaml (dict "k" (printf "- %s" (repeat 30 "word "))) }}"#,
        r#"k: '- word word word word word word word word word word word word word word word word
  word word word word word word word word word word word word word word '"#,
    ),
    (
        "yaml_long_double",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ toYaml (dict "k" (printf "%s\t%s" (repeat 20 "word ") (repeat 10 "more "))) }}"#,
        r#"k: "word word word word word word word word word word word word word word word word
  word word word word \tmore more more more more more more more more more ""#,
    ),
    (
        "yaml_long_in_list",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ toYaml (list (repeat 25 "abc ")) }}"#,
        r#"- 'abc abc abc abc abc abc abc abc abc abc abc abc abc abc abc abc abc abc abc abc
  abc abc abc abc abc '"#,
    ),
    (
        "yaml_deep",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ toYaml (dict "a" (list (dict "b" (list (list "c" (dict "d" "e")))) (list) (dict "x" (dict)))) }}"#,
        r#"a:
- b:
  - - c
    - d: e
- []
- x: {}"#,
    ),
    (
        "yaml_multiline_in_list_in_map",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ toYaml (dict "k" (list "a\nb" (dict "m" "x\ny\n"))) }}"#,
        r#"k:
- |-
  a
  b
- m: |
    x
    y"#,
    ),
    (
        "yaml_literal_trailing_space_lines",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ toYaml (dict "a" "line1 \nline2" "b" "l1\n l2" "c" "\nlead" "d" "x\n" "e" "\n" "f" "a\r\nb") }}"#,
        r#"a: "line1 \nline2"
b: |-
  l1
   l2
c: |2-

  lead
d: |
  x
e: |2+

f: "a\r\nb""#,
    ),
    (
        "yaml_emoji",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ toYaml (dict "e" "smile 😀" "z" "zero\u200bwidth" "c" "ctl\u0007") }}"#,
        "c: \"ctl\\a\"\ne: \"smile \\U0001F600\"\nz: zero\u{200b}width",
    ),
    (
        "yaml_numbers_values",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ toYaml (dict "i" 1 "neg" -3 "f" 0.5 "big" 123456789012 "exp" 1e-10 "int64" (int64 5)) }}"#,
        r#"big: 123456789012
exp: 1e-10
f: 0.5
i: 1
int64: 5
neg: -3"#,
    ),
    (
        "with_decl",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ with $x := .Values.m }}{{ $x.a }}-{{ .b }}{{ end }}"#,
        r#"1-2"#,
    ),
    (
        "range_assign_outer",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ $n := 0 }}{{ range .Values.l }}{{ $n = add $n . }}{{ end }}{{ $n }}"#,
        r#"10"#,
    ),
    (
        "template_no_pipe",
        r#"{{ define "np" }}[{{ . }}]{{ end }}"#,
        r#"{{ template "np" }}"#,
        r#"[<no value>]"#,
    ),
    (
        "dollar_in_include",
        r#"{{ define "dl" }}{{ $.Values.s }}{{ end }}"#,
        r#"{{ include "dl" . }}"#,
        r#"hello"#,
    ),
    (
        "printf_nested",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ printf "%v|%s|%d" .Values.nested .Values.l .Values.l }}"#,
        r#"map[a:map[b:deep]]|[%!s(float64=1) %!s(float64=2) %!s(float64=3) %!s(float64=4)]|[%!d(float64=1) %!d(float64=2) %!d(float64=3) %!d(float64=4)]"#,
    ),
    (
        "printf_width",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ printf "%-6s|%6s|%06.2f|%+d|%x|%X|%o|%b|%e|%g" "ab" "cd" 3.14159 5 "hi" 255 8 5 1234.5678 0.000012 }}"#,
        r#"ab    |    cd|003.14|+5|6869|FF|10|101|1.234568e+03|1.2e-05"#,
    ),
    (
        "quote_types",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ quote 1.5 true nil .Values.l .Values.m }}"#,
        r#""1.5" "true" "[1 2 3 4]" "map[a:1 b:2 c:three]""#,
    ),
    (
        "bools_in_values",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ .Values.no }} {{ not .Values.no }} {{ and .Values.s .Values.no }}"#,
        r#"<no value> true <no value>"#,
    ),
    (
        "toString_float",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ toString .Values.big }} {{ .Values.big | int }} {{ .Values.big | int64 }} {{ .Values.f | toString }}"#,
        r#"1e+06 1000000 1000000 2.5"#,
    ),
    (
        "empty_types",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ empty 0.0 }} {{ empty (dict) }} {{ empty (list) }} {{ empty "" }} {{ empty false }} {{ empty nil }} {{ empty "a" }}"#,
        r#"true true true true true true false"#,
    ),
    (
        "ternary_piped",
        r#""#,
        r#"{{ true | ternary "yes" "no" }} {{ .Values.s | empty | ternary "yes" "no" }}"#,
        r#"yes no"#,
    ),
    (
        "else_with_range",
        r#""#,
        r#"{{ range $i, $e := .Values.empty }}{{ $i }}{{ else }}none{{ end }}{{ range .Values.l }}{{ if gt . 2.0 }}{{ . }}{{ end }}{{ end }}"#,
        r#"none34"#,
    ),
    (
        "nested_tpl",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ tpl (tpl "{{ \"{{ .Values.s }}\" }}" .) . }}"#,
        r#"hello"#,
    ),
    (
        "include_in_tpl",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ tpl "{{ include \"sem.x\" . }}" . }}"#,
        r#"Xhello"#,
    ),
    (
        "index_map_list",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ index (list (dict "a" "v")) 0 "a" }}"#,
        r#"v"#,
    ),
    (
        "keys_order",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ keys .Values.m | sortAlpha | join "," }} {{ values .Values.m | len }}"#,
        r#"a,b,c 3"#,
    ),
    (
        "merge_deep",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ $a := dict "x" (dict "y" 1 "z" (list 1)) "e" "" }}{{ $b := dict "x" (dict "y" 2 "w" 3 "z" (list 2)) "e" "filled" "n" nil }}{{ toJson (merge $a $b) }}"#,
        r#"{"e":"filled","x":{"w":3,"y":1,"z":[1]}}"#,
    ),
    (
        "merge_overwrite_nil",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ $a := dict "x" 1 "y" (dict "z" 1) }}{{ toJson (mergeOverwrite $a (dict "x" nil "y" "str")) }}"#,
        r#"{"x":null,"y":"str"}"#,
    ),
    (
        "deepcopy_independent",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ $a := dict "x" (dict "y" 1) }}{{ $b := deepCopy $a }}{{ $_ := set $b.x "y" 2 }}{{ $a.x.y }}{{ $b.x.y }}"#,
        r#"12"#,
    ),
    (
        "regex_all",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ regexFindAll "[a-z]+" "ab 12 cd ef" 2 }} {{ regexReplaceAllLiteral "\\d" "a1b2" "$0" }} {{ regexQuoteMeta "a.b*c" }}"#,
        r#"[ab cd] a$0b$0 a\.b\*c"#,
    ),
    (
        "substr_edge",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ substr 2 100 "hello" }} {{ substr -1 2 "hello" }} {{ trunc 100 "hi" }} {{ trunc -100 "hi" }}"#,
        r#"llo he hi hi"#,
    ),
    (
        "split_join_edge",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ splitList "" "abc" }} {{ split "," "" }} {{ join "," (list) }} {{ join "," "single" }}"#,
        r#"[a b c] map[_0:]  single"#,
    ),
    (
        "atoi_float",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ atoi "12" }} {{ atoi "x" }} {{ float64 "1.5" }} {{ int "3.9" }} {{ int true }}"#,
        r#"12 0 1.5 0 1"#,
    ),
    (
        "math_float_inputs",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ add 1.9 1.9 }} {{ mul 2.5 2 }} {{ div 10 3.0 }} {{ max 1.5 2.5 }} {{ addf 1 2.5 }} {{ subf 5 1.5 0.5 }}"#,
        r#"2 4 3 2 3.5 3"#,
    ),
    (
        "semver_parts",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ $v := semver "1.2.3-alpha+meta" }}{{ $v.Major }}.{{ $v.Minor }}.{{ $v.Patch }} {{ $v.Prerelease }} {{ $v.Metadata }} {{ $v }}"#,
        r#"1.2.3 alpha meta 1.2.3-alpha+meta"#,
    ),
    (
        "kube_version_print",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ .Capabilities.KubeVersion }} {{ .Capabilities.KubeVersion.Major }} {{ .Capabilities.KubeVersion.GitVersion }}"#,
        r#"v1.31.0 1 v1.31.0"#,
    ),
    (
        "files_glob_range",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ range $p, $c := .Files.Glob "files/*.txt" }}{{ $p }}={{ $c | toString | trim }};{{ end }} {{ len (.Files.Glob "files/*") }}"#,
        r#"files/a.txt=line1
line2;files/b.txt=bee; 2"#,
    ),
    (
        "files_lines_missing",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ .Files.Lines "nope" }} {{ .Files.Get "nope" | quote }}"#,
        r#"[] """#,
    ),
    (
        "chart_fields",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ .Chart.Name }} {{ .Chart.Version }} {{ .Chart.IsRoot }} {{ .Chart.Description | quote }} {{ .Chart.Keywords }}"#,
        r#"sem 0.1.0 true "" []"#,
    ),
    (
        "html_in_tojson",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ toJson "<a&b>" }} {{ toRawJson "<a&b>" }} {{ toPrettyJson (dict "a" 1 "b" (list)) }}"#,
        r#""\u003ca\u0026b\u003e" "<a&b>" {
  "a": 1,
  "b": []
}"#,
    ),
    (
        "println_types",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ println 1.5 "x" nil true }}"#,
        r#"1.5 x <nil> true
"#,
    ),
    (
        "print_spacing",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ print "a" 1 2 "b" nil 3 }}"#,
        r#"a1 2b<nil> 3"#,
    ),
    (
        "urlquery_multi",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ urlquery "a" 1 }} {{ html 1 "<" }} {{ js "\u2028" }}"#,
        r#"a1 1&lt; \u2028"#,
    ),
    (
        "piped_nil_into_funcs",
        r#""#,
        r#"{{ .Values.missing | quote }}|{{ .Values.missing | toJson }}|{{ list .Values.missing 1 | toJson }}|{{ .Values.missing | list | toJson }}|{{ dict "k" .Values.missing | toJson }}"#,
        r#"|null|[null,1]|[null]|{"k":null}"#,
    ),
    (
        "shadow_in_range",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ $x := "outer" }}{{ range .Values.l }}{{ $x := . }}{{ end }}{{ $x }}"#,
        r#"outer"#,
    ),
    (
        "dollar_in_range_with",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ with .Values.m }}{{ range $.Values.l }}{{ $.Values.s }}{{ end }}{{ end }}"#,
        r#"hellohellohellohello"#,
    ),
    (
        "eq_nil_map",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ eq .Values.missing nil }} {{ ne .Values.s "" }}"#,
        r#"true true"#,
    ),
    (
        "not_missing_chain",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ if and .Values.m .Values.m.a }}yes{{ end }}"#,
        r#"yes"#,
    ),
    (
        "default_chain_missing",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ .Values.m.zz | default "dflt" }}"#,
        r#"dflt"#,
    ),
    (
        "index_float_key",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ index .Values.m "c" | upper }}"#,
        r#"THREE"#,
    ),
    (
        "printf_map_v",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ printf "%v %+v %s" .Values.m .Values.l .Values.nested }}"#,
        r#"map[a:1 b:2 c:three] [1 2 3 4] map[a:map[b:deep]]"#,
    ),
    (
        "printf_d_float",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ printf "%d" (int .Values.f) }} {{ printf "%.1f" .Values.f }} {{ printf "%03d" 7 }}"#,
        r#"2 2.5 007"#,
    ),
    (
        "toString_int64",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ toString (int64 5) }} {{ (add 1 1) | toString }} {{ typeOf (toString 1) }}"#,
        r#"5 2 string"#,
    ),
    (
        "quote_nested_list",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ .Values.l | quote }}"#,
        r#""[1 2 3 4]""#,
    ),
    (
        "ternary_types",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ ternary 1 "b" false }} {{ ternary .Values.m "x" true }}"#,
        r#"b map[a:1 b:2 c:three]"#,
    ),
    (
        "cat_mixed",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ cat "a" 1 2.5 true nil .Values.l }}"#,
        r#"a 1 2.5 true [1 2 3 4]"#,
    ),
    (
        "include_nested_scope",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ include "sem.x" (dict "Values" (dict "s" "inner")) }}"#,
        r#"Xinner"#,
    ),
    (
        "range_dict_values",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ range (dict "b" 2 "a" 1) }}{{ . }}{{ end }}"#,
        r#"12"#,
    ),
    (
        "with_nested_dot",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ with .Values.nested }}{{ with .a }}{{ .b }}{{ end }}{{ end }}"#,
        r#"deep"#,
    ),
    (
        "trim_variants",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ trim "  x  " }}|{{ trimPrefix "a" "aab" }}|{{ "  y" | trimAll " " }}"#,
        r#"x|ab|y"#,
    ),
    (
        "uniq_mixed_types",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ uniq (list 1 "1" 1.0 1) }}"#,
        r#"[1 1 1]"#,
    ),
    (
        "has_types",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ has 1 (list 1.0) }} {{ has "1" (list 1) }} {{ has 2.0 (list 1.0 2.0) }}"#,
        r#"false false true"#,
    ),
    (
        "hasKey_nested",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ hasKey .Values "m" }} {{ hasKey .Values.m "zz" }}"#,
        r#"true false"#,
    ),
    (
        "sortAlpha_numbers",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ sortAlpha (list 10 9 "b" "a") }}"#,
        r#"[10 9 a b]"#,
    ),
    (
        "empty_nil_value",
        r#"{{ define "sem.x" }}X{{ .Values.s }}{{ end }}"#,
        r#"{{ empty .Values.nullv }} {{ empty .Values.missing }} {{ kindOf .Values.nullv }}"#,
        r#"true true invalid"#,
    ),
];

#[test]
fn templates_render_like_helm() {
    let mut failures = Vec::new();
    for (name, defs, tpl, want) in CASES {
        match render_case(defs, tpl) {
            Ok(got) if got == *want => {}
            Ok(got) => failures.push(format!("{name}:\n  helm: {want:?}\n  ours: {got:?}")),
            Err(e) => failures.push(format!("{name}: error {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

/// (name, template, Helm's error message).
const ERRORS: &[(&str, &str, &str)] = &[
    (
        "nil_pointer",
        r#"a: {{ .Values.missing.x }}"#,
        r#"sem/templates/t.yaml:1:13
  executing "sem/templates/t.yaml" at <.Values.missing.x>:
    nil pointer evaluating interface {}.x"#,
    ),
    (
        "wrong_type",
        r#"{{ trunc 5 .Values.f }}"#,
        r#"sem/templates/t.yaml:1:18
  executing "sem/templates/t.yaml" at <.Values.f>:
    wrong type for value; expected string; got float64"#,
    ),
    (
        "invalid_value",
        r#"{{ upper .Values.missing }}"#,
        r#"sem/templates/t.yaml:1:16
  executing "sem/templates/t.yaml" at <.Values.missing>:
    wrong type for value; expected string; got interface {}"#,
    ),
    (
        "incompatible_eq",
        r#"{{ eq .Values.f 1 }}"#,
        r#"template: sem/templates/t.yaml:1:3: executing "sem/templates/t.yaml" at <eq .Values.f 1>: error calling eq: incompatible types for comparison: float64 and int"#,
    ),
    (
        "fail_direct",
        r#"x
  {{ fail "boom" }}"#,
        r#"execution error at (sem/templates/t.yaml:2:5): boom"#,
    ),
    (
        "required_missing",
        r#"{{ required "need x" .Values.missing }}"#,
        r#"execution error at (sem/templates/t.yaml:1:3): need x"#,
    ),
    (
        "include_missing",
        r#"{{ include "nope" . }}"#,
        r#"sem/templates/t.yaml:1:3
  executing "sem/templates/t.yaml" at <include "nope" .>:
    error calling include:
template: no template "nope" associated with template "gotpl""#,
    ),
    (
        "parse_unknown_func",
        r#"a
{{ nope }}"#,
        r#"parse error at (sem/templates/t.yaml:2): function "nope" not defined"#,
    ),
    (
        "parse_undefined_var",
        r#"{{ $x }}"#,
        r#"parse error at (sem/templates/t.yaml:1): undefined variable "$x""#,
    ),
    (
        "range_string",
        r#"{{ range "abc" }}{{ end }}"#,
        r#"sem/templates/t.yaml:1:9
  executing "sem/templates/t.yaml" at <"abc">:
    range can't iterate over abc"#,
    ),
    (
        "index_oob",
        r#"{{ index .Values.l 10 }}"#,
        r#"template: sem/templates/t.yaml:1:3: executing "sem/templates/t.yaml" at <index .Values.l 10>: error calling index: index out of range: 10"#,
    ),
    (
        "tpl_error",
        r#"{{ tpl "{{ .x.y }}" .Values }}"#,
        r#"template: sem/templates/t.yaml:1:3: executing "sem/templates/t.yaml" at <tpl "{{ .x.y }}" .Values>: error calling tpl: error during tpl function execution for "{{ .x.y }}": template: gotpl:1:5: executing "gotpl" at <.x.y>: nil pointer evaluating interface {}.y"#,
    ),
    (
        "nested_include_error",
        r#"{{ include "case" . }}"#,
        r#"sem/templates/t.yaml:1:3
  executing "sem/templates/t.yaml" at <include "case" .>:
    error calling include:
sem/templates/_case.tpl:1:31
  executing "case" at <.Values.missing.deep>:
    nil pointer evaluating interface {}.deep"#,
    ),
    (
        "nested_fail",
        r#"{{ include "failer" . }}"#,
        r#"execution error at (sem/templates/t.yaml:1:3): inner boom"#,
    ),
    (
        "not_a_method",
        r#"{{ .Values.m.a 1 }}"#,
        r#"sem/templates/t.yaml:1:10
  executing "sem/templates/t.yaml" at <.Values.m.a>:
    a is not a method but has arguments"#,
    ),
    (
        "field_on_string",
        r#"{{ .Values.s.x }}"#,
        r#"sem/templates/t.yaml:1:10
  executing "sem/templates/t.yaml" at <.Values.s.x>:
    can't evaluate field x in type interface {}"#,
    ),
    (
        "wrong_arg_count",
        r#"{{ trunc 5 }}"#,
        r#"sem/templates/t.yaml:1:3
  executing "sem/templates/t.yaml" at <trunc>:
    wrong number of args for trunc: want 2 got 1"#,
    ),
    (
        "piped_nil_into_typed",
        r#"{{ .Values.no | ternary "yes" "no" }}"#,
        r#"sem/templates/t.yaml:1:30
  executing "sem/templates/t.yaml" at <"no">:
    invalid value; expected bool"#,
    ),
    (
        "piped_nil_no_args",
        r#"{{ .Values.missing | upper }}"#,
        r#"sem/templates/t.yaml:1:21
  executing "sem/templates/t.yaml" at <upper>:
    invalid value; expected string"#,
    ),
    (
        "gt_mixed",
        r#"{{ gt .Values.f 2 }}"#,
        r#"template: sem/templates/t.yaml:1:3: executing "sem/templates/t.yaml" at <gt .Values.f 2>: error calling gt: incompatible types for comparison: float64 and int"#,
    ),
];

#[test]
fn errors_read_like_helm() {
    let mut failures = Vec::new();
    for (name, tpl, want) in ERRORS {
        let c = chart(vec![
            ("templates/_case.tpl", ERROR_PARTIALS.to_string()),
            ("templates/t.yaml", tpl.to_string()),
        ]);
        match render(&c, &values(), &ctx()) {
            Ok(out) => failures.push(format!(
                "{name}: rendered {:?}",
                out["sem/templates/t.yaml"]
            )),
            Err(e) if e.to_string() == *want => {}
            Err(e) => failures.push(format!(
                "{name}:\n  helm: {want:?}\n  ours: {:?}",
                e.to_string()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} errors differ:\n{}",
        failures.len(),
        ERRORS.len(),
        failures.join("\n")
    );
}

fn render_one(tpl: &str, cx: &RenderContext) -> Result<String, EngineError> {
    let c = chart(vec![("templates/t.yaml", tpl.to_string())]);
    render(&c, &values(), cx).map(|out| out["sem/templates/t.yaml"].clone())
}

#[test]
fn runaway_include_recursion_stops_with_one_line() {
    let e = render_one(
        r#"{{ define "loop" }}x{{ include "loop" . }}{{ end }}{{ include "loop" . }}"#,
        &ctx(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("exceeded maximum template depth (1000)"), "{e}");
    assert!(e.len() < 300, "{e}");
}

#[test]
fn runaway_template_and_tpl_recursion_stop() {
    let e = render_one(
        r#"{{ define "t" }}{{ template "t" . }}{{ end }}{{ template "t" . }}"#,
        &ctx(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("exceeded maximum template depth"),
        "{e}"
    );
    let e = render_one(
        r#"{{ $t := "{{ tpl .t . }}" }}{{ tpl $t (dict "t" $t) }}"#,
        &ctx(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("exceeded maximum template depth"),
        "{e}"
    );
}

#[test]
fn output_is_capped() {
    let mut cx = ctx();
    cx.limits.max_output = 10_000;
    let e = render_one(
        r#"{{ range until 100000 }}{{ "x" | repeat 100 }}{{ end }}"#,
        &cx,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("output exceeds the limit of 10000 bytes"),
        "{e}"
    );
    assert!(render_one(r#"{{ "x" | repeat 100 }}"#, &cx).is_ok());
}

#[test]
fn silent_loops_are_bounded_by_steps() {
    assert_eq!(ctx().limits.max_steps, 100_000_000);
    let mut cx = ctx();
    cx.limits.max_steps = 1_000_000;
    // Nested loops emitting nothing: 10^12 iterations, no output limit ever reached.
    let e = render_one(
        "a: 1\n{{ range until 1000000 }}{{ range until 1000000 }}{{ end }}{{ end }}",
        &cx,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("t.yaml:2:") && e.contains("exceeded 1000000 template steps"),
        "{e}"
    );
    // Exponential recursion under the depth limit is caught the same way.
    let e = render_one(
        r#"{{ define "b" }}{{ if lt (len .) 60 }}{{ include "b" (append . 1) }}{{ include "b" (append . 1) }}{{ end }}{{ end }}{{ include "b" list }}"#,
        &cx,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("exceeded 1000000 template steps"), "{e}");
    assert!(render_one("{{ range until 1000 }}{{ end }}ok", &cx).is_ok());
}

#[test]
fn later_templates_see_earlier_set_calls_in_helm_order() {
    // Helm runs templates deepest path first, then in reverse lexical order, over one
    // shared values tree: b.yaml runs before a.yaml and its `set` is visible there.
    let c = chart(vec![
        ("templates/a.yaml", "a={{ .Values.shared }}".to_string()),
        (
            "templates/b.yaml",
            r#"{{ $_ := set .Values "shared" "from-b" }}b"#.to_string(),
        ),
    ]);
    let out = render(&c, &values(), &ctx()).unwrap();
    assert_eq!(out["sem/templates/a.yaml"], "a=from-b");
}

#[test]
fn subcharts_see_their_own_values_and_parent_defines_win() {
    let sub = Chart {
        metadata: serde_json::json!({"Name": "sub", "Version": "1.0.0"}),
        name: "sub".into(),
        templates: vec![
            ChartFile { name: "templates/_h.tpl".into(), data: br#"{{ define "who" }}sub{{ end }}"#.to_vec() },
            ChartFile {
                name: "templates/s.yaml".into(),
                data: br#"{{ .Values.x }} {{ .Chart.Name }} {{ include "who" . }} {{ .Template.BasePath }}"#.to_vec(),
            },
        ],
        ..Chart::default()
    };
    let mut parent = chart(vec![
        (
            "templates/_h.tpl",
            r#"{{ define "who" }}parent{{ end }}"#.to_string(),
        ),
        (
            "templates/p.yaml",
            "{{ .Subcharts.sub.Values.x }}".to_string(),
        ),
    ]);
    parent.dependencies.push(sub);
    let vals = serde_json::json!({"sub": {"x": "sub-x"}});
    let out = render(&parent, &vals, &ctx()).unwrap();
    assert_eq!(
        out["sem/charts/sub/templates/s.yaml"],
        "sub-x sub parent sem/charts/sub/templates"
    );
    assert_eq!(out["sem/templates/p.yaml"], "sub-x");
    assert!(!out.contains_key("sem/templates/_h.tpl"));
}

#[test]
fn library_charts_only_lend_their_partials() {
    let lib = Chart {
        metadata: serde_json::json!({"Name": "lib", "Type": "library"}),
        name: "lib".into(),
        templates: vec![
            ChartFile {
                name: "templates/_l.tpl".into(),
                data: br#"{{ define "lib.x" }}L{{ end }}"#.to_vec(),
            },
            ChartFile {
                name: "templates/ignored.yaml".into(),
                data: b"never".to_vec(),
            },
        ],
        ..Chart::default()
    };
    let mut parent = chart(vec![(
        "templates/p.yaml",
        r#"{{ include "lib.x" . }}"#.to_string(),
    )]);
    parent.dependencies.push(lib);
    let out = render(&parent, &serde_json::json!({}), &ctx()).unwrap();
    assert_eq!(out["sem/templates/p.yaml"], "L");
    assert_eq!(out.len(), 1);
}
