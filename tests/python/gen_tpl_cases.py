#!/usr/bin/env python3
"""Renders every template case in CASES with real Helm and writes the golden file that
`import_values::tpl`'s data-driven test replays (tests/data/tpl/cases.json).

Real Helm is the Helm 4 SDK in helm-python-sdk; it is needed only to regenerate the file:

    python3 -m venv /tmp/helmvenv && /tmp/helmvenv/bin/pip install helm-python-sdk==0.2.2
    /tmp/helmvenv/bin/python tests/python/gen_tpl_cases.py

Each case is a template text and values. A case runs either in a throwaway chart `tc`
(version 0.1.0, no default values) or, with `ms=True`, in a copy of the ModelService chart
(its values.yaml, its helpers and the common subchart), the template added as
`templates/case.yaml`. Helm sees the values as JSON, so every number in them is a float64,
as numbers read from a values file are.
"""

import json
import os
import shutil
import sys
import tempfile

import helm_python as helm

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CHART = os.path.join(REPO, "..", "shared", "reference", "modelservice", "chart")
OUT = os.path.join(REPO, "tests", "data", "tpl", "cases.json")

CASES = []


def C(tpl, values=None, release="rel", namespace="ns", ms=False, name=None):
    CASES.append(
        {
            "name": name or tpl[:60],
            "template": tpl,
            "values": values or {},
            "release": release,
            "namespace": namespace,
            "chart": "modelservice" if ms else "tc",
        }
    )


# --- syntax -------------------------------------------------------------------------------
C("plain text, no actions")
C("")
C("a {{ \"b\" }} c")
C("a {{- \"b\" -}} c")
C("a  \n {{- \"b\" }}  \n c")
C("a {{ \"b\" -}}  \n\n c")
C("x{{/* a comment */}}y")
C("x {{- /* a comment */ -}} y")
C("x{{- /* multi\nline */}}\n y")
C("{{ `raw \\n string` }}")
C('{{ "tab\\tnew\\nline \\x41 \\u00e9 \\U0001F600 \\101 \\\\ \\"" }}')
C("{{ 'a' }} {{ '\\n' }} {{ '\\x41' }}")
C("{{ 1 }} {{ -2 }} {{ 1.5 }} {{ 1e3 }} {{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 1_000 }} {{ .5 }}")
C("{{ true }} {{ false }}")
C("{{ nil }}")
C("{{ keys . | sortAlpha }}", {"a": 1})
C("{{ .Values }}", {"a": 1, "b": "x"})
C("{{ .Values.a }}", {"a": "hello"})
C("{{ .Values.a.b.c }}", {"a": {"b": {"c": "deep"}}})
C("{{ .Values.missing }}|", {})
C("{{ .Values.missing.deeper }}", {})
C("{{ $x := .Values.missing }}{{ $x.deeper }}|", {})
C("{{ .Values.a.b }}", {"a": "str"})
C("{{ .Values.a-b }}", {"a-b": 1})
C('{{ index .Values "a-b" }}', {"a-b": 1})
C('{{ index .Values.m "k" "j" }}', {"m": {"k": {"j": "v"}}})
C("{{ index .Values.l 1 }}", {"l": ["a", "b"]})
C("{{ index .Values.l 5 }}", {"l": ["a", "b"]})
C("{{ index .Values.l 2 }}", {"l": ["a", "b"]})
C('{{ index .Values.l "x" }}', {"l": ["a", "b"]})
C('{{ index .Values.m "nokey" }}|', {"m": {}})
C('{{ index .Values.m "a" "b" }}', {"m": {}})
C('{{ index "abc" 1 }}')
C("{{ index .Values.l .Values.i }}", {"l": ["a", "b"], "i": 1})
C("{{ index .Values.missing 0 }}", {})
C("{{ (index .Values.l 0).name }}", {"l": [{"name": "first"}]})
C("{{ (dict \"a\" (dict \"b\" 7)).a.b }}")
C("{{ $.Values.a }}", {"a": "root"})
C("{{ with .Values.a }}{{ $.Values.b }}{{ end }}", {"a": 1, "b": "outer"})
C("{{ $x := 1 }}{{ $x }}")
C("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}")
C("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}")
C("{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}")
C("{{ if true }}{{ $y := 2 }}{{ end }}{{ $y }}")
C("{{ $y = 2 }}")
C("{{ $x := dict \"a\" 1 }}{{ $x.a }}")
C("{{ $x := list 1 2 }}{{ $x }}")
C("{{ keys $ | sortAlpha }} {{ $.Values }}", {"a": 1})
C("{{ if .Values.a }}yes{{ end }}", {"a": True})
C("{{ if .Values.a }}yes{{ else }}no{{ end }}", {"a": False})
C("{{ if .Values.a }}a{{ else if .Values.b }}b{{ else }}c{{ end }}", {"a": 0, "b": "x"})
C("{{ if .Values.a }}a{{ else if .Values.b }}b{{ else }}c{{ end }}", {"a": 0, "b": ""})
C("{{- if .Values.decode.create }}\nkind: x\n{{- end }}", {"decode": {"create": True}})
C("{{ if $x := .Values.a }}{{ $x }}{{ end }}", {"a": "v"})
C("{{ with .Values.a }}{{ .b }}{{ end }}", {"a": {"b": "inner"}})
C("{{ with .Values.a }}{{ .b }}{{ else }}none{{ end }}", {})
C("{{ with .Values.a }}x{{ else with .Values.b }}{{ . }}{{ else }}z{{ end }}", {"b": "bee"})
C("{{ with $v := .Values.a }}{{ $v }}{{ end }}", {"a": 3})
C("{{ range .Values.l }}[{{ . }}]{{ end }}", {"l": ["a", "b", "c"]})
C("{{ range $i, $v := .Values.l }}{{ $i }}={{ $v }};{{ end }}", {"l": ["a", "b"]})
C("{{ range $v := .Values.l }}{{ $v }};{{ end }}", {"l": ["a", "b"]})
C("{{ range $k, $v := .Values.m }}{{ $k }}={{ $v }};{{ end }}", {"m": {"b": 2, "a": 1, "c": 3}})
C("{{ range .Values.m }}{{ . }};{{ end }}", {"m": {"b": 2, "a": 1}})
C("{{ range .Values.l }}x{{ else }}empty{{ end }}", {"l": []})
C("{{ range .Values.missing }}x{{ else }}empty{{ end }}", {})
C("{{ range 3 }}{{ . }}{{ end }}")
C("{{ range $i := 3 }}{{ $i }}{{ end }}")
C("{{ range $i, $v := 3 }}{{ $i }}{{ end }}")
C("{{ range .Values.n }}{{ . }}{{ end }}", {"n": 3})
C('{{ range "abc" }}{{ . }}{{ end }}')
C("{{ range .Values.l }}{{ if eq . \"b\" }}{{ break }}{{ end }}{{ . }}{{ end }}", {"l": ["a", "b", "c"]})
C("{{ range .Values.l }}{{ if eq . \"b\" }}{{ continue }}{{ end }}{{ . }}{{ end }}", {"l": ["a", "b", "c"]})
C("{{ break }}")
C("{{ range .Values.l }}{{ .name }}{{ end }}", {"l": [{"name": "x"}, None]})
C("{{ range $x := .Values.l }}{{ end }}{{ $x }}", {"l": [1]})
C("{{ range (list 1 2) }}{{ $.Values.a }}{{ end }}", {"a": "A"})
C('{{ define "t1" }}T1:{{ . }}{{ end }}{{ template "t1" "arg" }}')
C('{{ define "t1" }}T1:{{ . }}{{ end }}{{ template "t1" }}|')
C('{{ define "t1" }}{{ $ }}{{ end }}{{ template "t1" 5 }}')
C('{{ define "t1" }}[{{ .a }}]{{ end }}{{ include "t1" (dict "a" 1) }}')
C('{{ define "t1" }}  x  {{ end }}{{ include "t1" . | trim }}')
C('{{ define "t1" }}a\nb{{ end }}{{ include "t1" . | indent 2 }}')
C('{{ template "nope" }}')
C('{{ include "nope" . }}')
C('{{ block "b1" . }}default block{{ end }}')
C('{{ define "t1" }}{{ .Values.x }}{{ end }}{{ include "t1" . }}', {"x": "via include"})
C('{{ define "t1" }}{{ $v := "in" }}{{ $v }}{{ end }}{{ $v := "out" }}{{ include "t1" . }}{{ $v }}')
C('{{ define "rec" }}{{ if gt . 0 }}{{ . }}{{ include "rec" (sub . 1) }}{{ end }}{{ end }}{{ include "rec" 3 }}')
C('{{ define "x" }}{{ .missing }}{{ end }}[{{ include "x" (dict) }}]')
C("{{ (1) }} {{ (\"s\") }}")
C("{{ print (1) (2) }}")
C("{{ \"x\" | printf \"%s-%s\" \"a\" }}")
C("{{ .Values.a | quote | upper }}", {"a": "q"})
C("{{ \"a\" | .Values.f }}", {"f": "x"})
C("{{ 1 | 2 }}")
C("{{ .Values.a 1 }}", {"a": "x"})
C("{{ if }}{{ end }}")
C("{{ if true }}")
C("{{ end }}")
C("{{ else }}")
C("{{ .Values.a")
C("{{ \"unterminated }}")
C("{{ undefinedFunc 1 }}")
C("{{ $undefined }}")
C("{{ 1 2 }}")
C("{{ ( 1 }}")
C("{{ ) }}")
C("{{ 3x }}")
C("{{ .a.b. }}")
C("{{ @ }}")
C("{{ define \"a\" }}{{ end }}{{ if true }}{{ define \"b\" }}{{ end }}{{ end }}")
C("{{/* unclosed comment }}")
C("{{ \"a\" \"b\" }}")
C("{{ .Release.Name }}-config", release="my-rel")
C("{{ .Release.Namespace }} {{ .Release.Service }} {{ .Release.Revision }} {{ .Release.IsInstall }} {{ .Release.IsUpgrade }}", namespace="team")
C("{{ .Release }}")
C("{{ .Release.Missing }}|")
C("{{ .Chart.Name }} {{ .Chart.Version }} {{ .Chart.APIVersion }} {{ .Chart.IsRoot }}[{{ .Chart.AppVersion }}]")
C("{{ .Template.Name }} {{ .Template.BasePath }}")
C("{{ .Capabilities.KubeVersion }} {{ .Capabilities.KubeVersion.Version }} {{ .Capabilities.KubeVersion.Major }} {{ .Capabilities.KubeVersion.Minor }}")
C('{{ .Capabilities.APIVersions.Has "apps/v1" }} {{ .Capabilities.APIVersions.Has "nope/v9" }}')
C("{{ .Chart.Nope }}|")
C("{{ .Capabilities.Nope }}")
C("{{ typeOf . }} {{ typeOf .Values }} {{ typeOf .Release }} {{ typeOf .Chart }} {{ typeOf .Capabilities }}")

# --- printing -----------------------------------------------------------------------------
NUMS = {"n": 2, "big": 1000000, "half": 0.5, "neg": -3, "f": 1.5, "e": 1e21, "small": 0.00001,
        "p": 123456789, "z": 0, "t": 100000, "q": 1234567.5, "tiny": 1e-7, "negf": -2.5}
C("{{ .Values.n }} {{ .Values.big }} {{ .Values.half }} {{ .Values.neg }} {{ .Values.f }}", NUMS)
C("{{ .Values.e }} {{ .Values.small }} {{ .Values.p }} {{ .Values.z }} {{ .Values.t }} {{ .Values.q }} {{ .Values.tiny }} {{ .Values.negf }}", NUMS)
C("{{ .Values.m }}", {"m": {"b": 2, "a": "x", "c": [1, "y"], "d": {"e": None}}})
C("{{ .Values.l }}", {"l": ["a", 1, 2.5, True, None, {"k": "v"}, []]})
C("{{ .Values.emptyMap }} {{ .Values.emptyList }}", {"emptyMap": {}, "emptyList": []})
C("{{ print .Values.missing }} {{ printf \"%v\" .Values.missing }}", {})
C("{{ print nil }}")
C("{{ list nil 1 }} {{ dict \"a\" nil }}")
C("{{ print 1 2 \"a\" \"b\" 3 }}")
C("{{ println 1 \"a\" }}")
C('{{ printf "%d %s %v %q %t" 3 "s" .Values.m "q" true }}', {"m": {"a": 1}})
C('{{ printf "%5d|%-5d|%05d|%x|%X|%o|%b|%c|%U" 42 42 42 255 255 8 5 65 65 }}')
C('{{ printf "%f %.2f %8.3f %e %g %G %.3g" 3.14159 3.14159 3.14159 1234.5 0.000012 1e21 3.14159 }}')
C('{{ printf "%s" 5 }} {{ printf "%d" "x" }} {{ printf "%d" 1.5 }}')
C('{{ printf "%d" .Values.n }} {{ printf "%v" .Values.n }} {{ printf "%s" .Values.n }}', NUMS)
C('{{ printf "%d %d" 1 }} {{ printf "%d" 1 2 }} {{ printf "%z" 1 }} {{ printf "100%%" }}')
C('{{ printf "%v %v" (list 1 "a") (dict "k" (list 2)) }}')
C('{{ printf "%q" (list "a" "b") }} {{ printf "%s" (list "a" "b") }} {{ printf "%d" (list 1 2) }}')
C('{{ printf "%T %T %T %T %T %T" 1 "s" 1.5 true (list) (dict) }}')
C('{{ printf "%+d % d %+.1f %#x %#o %x" 5 5 2.25 255 8 "hi" }}')
C('{{ printf "%6.2s|%-6s|%6s" "abcdef" "ab" "ab" }}')
C('{{ printf "%v" nil }} {{ printf "%s" nil }} {{ printf "%d" nil }}')
C('{{ printf "%t" 1 }} {{ printf "%.0f" 2.5 }} {{ printf "%.0f" 3.5 }}')
C('{{ printf "%*d" 5 3 }}')
C('{{ printf "%[2]s %[1]s" "a" "b" }}')
C("{{ 1.0 }} {{ 2.50 }} {{ 1e21 }} {{ 1e20 }} {{ 123456789.0 }} {{ 0.0001 }} {{ 0.00001 }}")

# --- comparison and logic -----------------------------------------------------------------
C("{{ eq 1 1 }} {{ eq 1 2 }} {{ eq \"a\" \"a\" }} {{ eq 1 2 1 }} {{ ne 1 2 }}")
C("{{ eq .Values.n 2 }}", NUMS)
C("{{ eq .Values.n 2.0 }}", NUMS)
C("{{ eq .Values.missing \"x\" }} {{ eq .Values.missing nil }}", {})
C("{{ eq nil nil }}")
C("{{ eq 1 \"1\" }}")
C("{{ eq (list 1) (list 1) }}")
C("{{ eq true true }} {{ eq .Values.b false }}", {"b": False})
C("{{ lt 1 2 }} {{ le 2 2 }} {{ gt 3 2 }} {{ ge 1 2 }} {{ lt \"a\" \"b\" }} {{ lt 1.5 2.5 }}")
C("{{ lt 1 2.5 }}")
C("{{ lt .Values.n 3 }}", NUMS)
C("{{ gt (len .Values.l) 1 }}", {"l": [1, 2]})
C("{{ lt nil 1 }}")
C("{{ lt true false }}")
C("{{ eq 1 }}")
C("{{ and 1 2 }} {{ and 1 0 }} {{ and \"\" 1 }} {{ or 0 \"\" }} {{ or 0 \"x\" }} {{ or 1 2 }}")
C("{{ and true .Values.missing.x }}", {})
C("{{ or true .Values.missing.x }}", {})
C("{{ and false .Values.missing.x }}", {})
C("{{ not 0 }} {{ not 1 }} {{ not \"\" }} {{ not (list) }} {{ not (dict \"a\" 1) }} {{ not .Values.missing }}", {})
C("{{ if .Values.z }}t{{ else }}f{{ end }} {{ if .Values.half }}t{{ else }}f{{ end }}", NUMS)
C("{{ if .Values.s }}t{{ else }}f{{ end }}{{ if .Values.l }}t{{ else }}f{{ end }}{{ if .Values.m }}t{{ else }}f{{ end }}", {"s": "", "l": [], "m": {}})
C("{{ if .Values.s }}t{{ else }}f{{ end }}{{ if .Values.l }}t{{ else }}f{{ end }}{{ if .Values.m }}t{{ else }}f{{ end }}", {"s": "0", "l": [0], "m": {"a": None}})
C("{{ len \"abc\" }} {{ len (list 1 2) }} {{ len (dict \"a\" 1) }} {{ len \"é\" }}")
C("{{ len 3 }}")
C("{{ len .Values.missing }}", {})
C("{{ $x := .Values.missing }}{{ len $x }}", {})
C("{{ slice (list 1 2 3 4) 1 3 }} {{ slice (list 1 2 3) }} {{ slice (list) }}| {{ typeOf (slice (list)) }}")
C('{{ slice "abcdef" 2 }}')
C("{{ slice (list 1 2 3) 2 1 }}")
C("{{ slice (list 1 2 3) 0 9 }}")
C('{{ html "<a href=\\"x\\">&\'</a>" }} {{ js "it\'s \\"q\\" <b> \\\\ \\n" }} {{ urlquery "a b&c=d/é" }}')
C("{{ call .Values.f }}", {"f": 1})

# --- strings ------------------------------------------------------------------------------
C('{{ quote "a" }} {{ quote 1 }} {{ quote .Values.missing }}| {{ quote "a\\"b\\n" }} {{ quote "a" "b" }} {{ quote true }} {{ quote nil }}', {})
C('{{ squote "a" }} {{ squote 2.5 }} {{ squote "it\'s" }} {{ squote "a" "b" }}')
C('{{ .Values.modelArtifacts.name | quote }}', {"modelArtifacts": {"name": "meta-llama/Llama-3.1-8B"}})
C('{{ quote .Values.n }} {{ quote .Values.big }} {{ quote .Values.l }} {{ quote .Values.m }}', dict(NUMS, l=["a"], m={"k": 1}))
C('{{ quote "\\u00e9\\u200b\\u00a0\\x7f\\x01 \\U0001F600" }}')
C('{{ upper "abc é" }} {{ lower "ABC É" }} {{ title "hello wORLD foo-bar o\'neil" }} {{ untitle "Hello World" }}')
C("{{ upper .Values.n }}", NUMS)
C("{{ upper .Values.missing }}", {})
C("{{ .Values.missing | upper }}", {})
C("{{ $x := .Values.missing }}{{ upper $x }}", {})
C('{{ trim "  a b \\n\\t" }}|{{ trimAll "$" "$$5.00$" }}|{{ trimPrefix "ab" "abcab" }}|{{ trimSuffix "ab" "abcab" }}|{{ trimall "x" "xax" }}')
C('{{ trunc 3 "abcdef" }} {{ trunc -2 "abcdef" }} {{ trunc 10 "abc" }} {{ trunc 0 "abc" }}| {{ trunc -10 "abc" }}')
C('{{ trunc 63 .Values.s | trimSuffix "-" }}', {"s": "a" * 62 + "-b"})
C('{{ trunc .Values.n "abc" }}', NUMS)
C('{{ trunc 2.0 "abc" }}')
C('{{ trunc 1.5 "abc" }}')
C('{{ trunc (add 1 1) "abc" }}')
C('{{ trunc (len "ab") "abc" }}')
C('{{ abbrev 5 "hello world" }} {{ abbrev 3 "hello" }} {{ abbrev 20 "short" }} {{ abbrevboth 5 10 "1234 5678 9123" }}')
C('{{ replace "a" "b" "banana" }} {{ "aaa" | replace "a" "" }}')
C('{{ contains "ell" "hello" }} {{ contains "x" "hello" }} {{ hasPrefix "he" "hello" }} {{ hasSuffix "lo" "hello" }} {{ hasPrefix "" "x" }}')
C('{{ repeat 3 "ab" }}|{{ repeat 0 "x" }}|')
C('{{ repeat -1 "x" }}')
C('{{ cat "a" "b" 1 nil 2.5 (list 1) }}|{{ cat }}|{{ cat nil }}|')
C('{{ indent 2 "a\\nb" }}|{{ nindent 2 "a\\nb" }}|{{ indent 0 "x" }}|{{ indent 2 "" }}|{{ nindent 4 "a\\n\\nb\\n" }}|')
C('{{ toYaml .Values.decode.nodeSelector | nindent 4 }}', {"decode": {"nodeSelector": {"gpu": "a100", "zone": "us-east-1"}}})
C('{{ nospace " a b\\tc\\n d " }} {{ substr 1 3 "abcdef" }} {{ substr 2 -1 "abcdef" }} {{ substr -1 2 "abcdef" }} {{ substr 0 99 "abc" }}')
C('{{ substr 5 2 "abc" }}')
C('{{ toString 1 }} {{ toString 1.5 }} {{ toString .Values.n }} {{ toString nil }} {{ toString (list 1 "a") }} {{ toString true }} {{ toString "s" }}', NUMS)
C('{{ toStrings (list 1 "a" nil 2.5) }} {{ typeOf (toStrings (list 1)) }} {{ toStrings "x" }} {{ toStrings nil }}')
C('{{ split "," "a,b,c" }} {{ (split "," "a,b").a }}|{{ (split "," "a,b")._1 }} {{ typeOf (split "," "a") }}')
C('{{ splitList "," "a,b,,c" }} {{ splitList "" "abc" }} {{ splitList "," "" }} {{ typeOf (splitList "," "a") }}')
C('{{ splitn "," 2 "a,b,c" }} {{ splitn "," 0 "a,b" }} {{ splitn "," -1 "a,b,c" }}')
C('{{ join "," (list "a" 1 nil 2.5) }} {{ join "-" (splitList "," "x,y") }} {{ join "," "str" }} {{ join "," nil }}|')
C('{{ sortAlpha (list "b" "a" "C" 1) }} {{ sortAlpha "x" }} {{ typeOf (sortAlpha (list)) }}')
C('{{ initials "hello big world" }} {{ swapcase "Hello" }} {{ plural "one" "many" 1 }} {{ plural "one" "many" 2 }}')
C('{{ b64enc "hello" }} {{ b64dec "aGVsbG8=" }} {{ b64dec "!!" }} {{ b32enc "hi" }} {{ b32dec "NBUQ====" }}')
C('{{ sha256sum "hello" }} {{ sha1sum "hello" }} {{ adler32sum "hello" }}')
C('{{ cat "a" | upper | repeat 2 }}')
C('{{ "abc" | upper | trunc 2 }}')

# --- regular expressions ------------------------------------------------------------------
C('{{ regexMatch "^[a-z]+$" "abc" }} {{ regexMatch "^[a-z]+$" "aB" }} {{ regexMatch "(" "x" }}')
C('{{ regexFind "[0-9]+" "ab12cd34" }}|{{ regexFind "x" "abc" }}|')
C('{{ regexFindAll "[0-9]+" "a1b22c333" -1 }} {{ regexFindAll "[0-9]+" "a1b22c333" 2 }} {{ regexFindAll "x" "abc" -1 }} {{ regexFindAll "[0-9]" "12" 0 }}')
C('{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "${1}W" }} {{ regexReplaceAll "a(x*)b" "-ab-axxb-" "$1W" }} {{ regexReplaceAll "(?P<n>o)" "foo" "[$n]" }} {{ regexReplaceAll "o" "foo" "$$" }}')
C('{{ regexReplaceAllLiteral "a(x*)b" "-ab-axxb-" "${1}" }}')
C('{{ regexSplit "," "a,b,c" -1 }} {{ regexSplit "," "a,b,c" 2 }} {{ regexSplit "," "a,b,c" 0 }} {{ regexSplit "x*" "abc" -1 }} {{ regexSplit "," "" -1 }} {{ regexSplit "://" "hf://org/model" -1 }}')
C('{{ regexSplit "," "a,b," -1 }} {{ len (regexSplit "," "a,b," -1) }} {{ regexSplit "^" "ab" -1 }}')
C('{{ regexMatch "\\\\d+" "١٢" }} {{ regexMatch "^\\\\w+$" "é" }} {{ regexMatch "\\\\s" "\\u00a0" }} {{ regexReplaceAll "\\\\bx" "x ax éx" "Y" }}')
C('{{ regexFindAll "a*" "baaab" -1 }} {{ regexReplaceAll "a*" "baaab" "-" }}')
C('{{ regexMatch "(?i)ABC" "xabcx" }} {{ regexFind "[[:alpha:]]+" "12ab3" }} {{ regexQuoteMeta "a.b*c" }}')
C('{{ regexReplaceAll "[^a-z0-9_.-]" "My_Model.V1/x" "-" }}')
C('{{ regexFindAll "(" "x" -1 }}')
C('{{ mustRegexMatch "(" "x" }}')

# --- type conversion and math -------------------------------------------------------------
C('{{ int "12" }} {{ int "12.0" }} {{ int "12.5" }} {{ int "0x1F" }} {{ int "010" }} {{ int "x" }} {{ int 3.9 }} {{ int -3.9 }} {{ int true }} {{ int nil }} {{ int "  5" }}')
C('{{ int64 "12" }} {{ typeOf (int64 1) }} {{ typeOf (int 1) }} {{ int .Values.n }} {{ typeOf (int .Values.n) }}', NUMS)
C('{{ float64 "1.5" }} {{ float64 2 }} {{ float64 "x" }} {{ typeOf (float64 1) }} {{ float64 "1e3" }} {{ float64 true }}')
C('{{ atoi "42" }} {{ atoi "x" }} {{ atoi "4.2" }} {{ atoi " 4" }} {{ atoi "+4" }}')
C('{{ add 1 2 }} {{ add 1.5 1.5 }} {{ add "3" 4 }} {{ add }} {{ add1 5 }} {{ add1 1.9 }} {{ sub 5 7 }} {{ mul 2 3 4 }} {{ div 7 2 }} {{ div -7 2 }} {{ mod 7 3 }} {{ mod -7 3 }}')
C('{{ typeOf (add 1 2) }} {{ typeOf (add1 1) }} {{ typeOf (len "a") }} {{ typeOf 1 }} {{ typeOf 1.5 }} {{ typeOf "s" }} {{ typeOf nil }} {{ typeOf true }}')
C('{{ div 1 0 }}')
C('{{ mod 1 0 }}')
C('{{ add .Values.n .Values.f }} {{ mul .Values.n 3 }} {{ sub .Values.big 1 }}', NUMS)
C('{{ max 1 5 3 }} {{ min 4 2 8 }} {{ max 1.5 1.2 }} {{ biggest 3 9 }} {{ typeOf (max 1 2) }} {{ max "7" 2 }}')
C('{{ floor 1.7 }} {{ ceil 1.2 }} {{ round 2.5 0 }} {{ round 3.14159 2 }} {{ round -2.5 0 }} {{ floor "2.5" }} {{ typeOf (floor 1) }} {{ round 2.4 0 }} {{ round 1.25 1 0.3 }}')
C('{{ until 3 }} {{ untilStep 0 10 3 }} {{ untilStep 5 0 -2 }} {{ seq 3 }} {{ seq 2 5 }} {{ seq 5 2 }} {{ seq 0 2 6 }}')
C("{{ add 1 .Values.missing }}", {})
C("{{ mul (include \"t\" .) 2 }}{{ define \"t\" }}21{{ end }}")

# --- defaults and flow --------------------------------------------------------------------
C('{{ default "x" .Values.foo }} {{ default "x" "" }} {{ default "x" "y" }} {{ default 1 0 }} {{ default "d" false }} {{ default "d" (list) }} {{ default "d" (dict) }} {{ default "d" }}', {})
C('{{ .Values.foo | default "piped" }}', {})
C('{{ default .Chart.Name .Values.nameOverride }}', {"nameOverride": ""})
C('{{ empty "" }} {{ empty 0 }} {{ empty 0.0 }} {{ empty nil }} {{ empty (list) }} {{ empty (dict) }} {{ empty false }} {{ empty "a" }} {{ empty 1 }} {{ empty (list 0) }} {{ empty .Values.missing }}', {})
C('{{ coalesce "" 0 nil "first" "second" }} {{ coalesce "" nil }}| {{ coalesce .Values.a .Values.b "c" }}', {"b": "bee"})
C('{{ ternary "y" "n" true }} {{ ternary "y" "n" false }} {{ true | ternary 1 2 }}')
C('{{ ternary .Values.decode.replicas 1 (hasKey .Values.decode "replicas") }}', {"decode": {"replicas": 2}})
C('{{ ternary "a" "b" 1 }}')
C('{{ all 1 "a" true }} {{ all 1 0 }} {{ any 0 "" nil }} {{ any 0 "x" }}')
C('{{ required "need it" .Values.x }}', {"x": "present"})
C('{{ required "routing.proxy.image must be specified" .Values.x }}', {})
C('{{ required "empty string" "" }}')
C('{{ required "zero is fine" 0 }} {{ required "false is fine" false }}')
C('{{ fail "parallelism.data must be a multiple of parallelism.workers" }}')
C('before {{ if .Values.bad }}{{ fail "bad value" }}{{ end }} after', {"bad": True})
C('{{ lookup "v1" "Secret" "ns" "name" }} {{ typeOf (lookup "v1" "Secret" "ns" "name") }} {{ (lookup "v1" "Secret" "ns" "name").data }}|')
C('{{ env "HOME" }}')

# --- lists --------------------------------------------------------------------------------
C('{{ list 1 "a" 2.5 }} {{ list }} {{ typeOf (list) }} {{ tuple 1 2 }}')
C('{{ first (list 1 2 3) }} {{ last (list 1 2 3) }} {{ rest (list 1 2 3) }} {{ initial (list 1 2 3) }} {{ first (list) }}|{{ rest (list) }} {{ initial (list) }}')
C('{{ first "abc" }}')
C('{{ first nil }}')
C('{{ append (list 1 2) 3 }} {{ prepend (list 1 2) 0 }} {{ push (list) "x" }} {{ concat (list 1) (list 2 3) (list) }} {{ concat }}| {{ reverse (list 1 2 3) }}')
C('{{ append "x" 1 }}')
C('{{ append nil 1 }}')
C('{{ $l := list 1 }}{{ $m := append $l 2 }}{{ $l }} {{ $m }}')
C('{{ uniq (list 1 2 1 "a" "a" 1.0) }} {{ has 2 (list 1 2) }} {{ has "2" (list 1 2) }} {{ has 1 nil }} {{ without (list 1 2 3 2) 2 }} {{ compact (list 0 1 "" "a" nil false (list)) }}')
C('{{ has 1 "abc" }}')
C('{{ has .Values.n (list 2) }} {{ has 2 (list .Values.n) }} {{ has 2.0 (list .Values.n) }}', NUMS)
C('{{ slice (list 1 2 3 4) 1 }} {{ mustFirst (list) }}| {{ chunk 2 (list 1 2 3 4 5) }}')
C('{{ concat (list) }} {{ toJson (concat (list)) }} {{ toJson (list) }} {{ toJson (regexFindAll "x" "y" -1) }} {{ toJson (rest (list 1)) }}')
C('{{ range $i, $e := (list "a" "b") }}{{ $i }}{{ typeOf $i }}{{ end }}')

# --- dicts --------------------------------------------------------------------------------
C('{{ dict "a" 1 "b" "x" }} {{ dict }} {{ dict "odd" }} {{ dict 1 2 }} {{ typeOf (dict) }}')
C('{{ get (dict "a" 1) "a" }} {{ get (dict "a" 1) "b" }}| {{ hasKey (dict "a" nil) "a" }} {{ hasKey (dict) "a" }}')
C('{{ $d := dict "a" 1 }}{{ $_ := set $d "b" 2 }}{{ $d }} {{ set $d "c" 3 }} {{ unset $d "a" }} {{ $d }}')
C('{{ $_ := set .Values "added" "yes" }}{{ .Values.added }}', {})
C('{{ keys (dict "b" 1 "a" 2) | sortAlpha }} {{ keys (dict "a" 1) (dict "b" 2) | sortAlpha }} {{ values (dict "a" 1) }} {{ typeOf (keys (dict)) }}')
C('{{ pluck "a" (dict "a" 1) (dict "b" 2) (dict "a" 3) }} {{ pick (dict "a" 1 "b" 2 "c" 3) "a" "c" }} {{ omit (dict "a" 1 "b" 2) "a" }}')
C('{{ dig "a" "b" "def" (dict "a" (dict "b" "found")) }} {{ dig "a" "x" "def" (dict "a" (dict "b" "found")) }}')
C('{{ $d := dict "a" 1 "n" (dict "x" 1) }}{{ $s := dict "a" 2 "b" 3 "n" (dict "y" 2) }}{{ merge $d $s }} {{ $d }}')
C('{{ merge (dict "a" false "b" 0 "c" "" "d" "keep") (dict "a" true "b" 5 "c" "new" "d" "lose" "e" "add") }}')
C('{{ mergeOverwrite (dict "a" 1 "b" (dict "x" 1 "y" 2) "l" (list 1 2)) (dict "a" 2 "b" (dict "y" 3) "l" (list 3)) }}')
C('{{ mergeOverwrite (dict "a" 1 "b" true "c" "s") (dict "a" 0 "b" false "c" "") }}')
C('{{ merge (dict "l" (list 1 2)) (dict "l" (list 3)) }} {{ merge (dict "l" (list)) (dict "l" (list 3)) }} {{ merge (dict) (dict "l" (list 3)) }}')
C('{{ merge (dict "m" (dict)) (dict "m" (dict "a" 1)) }} {{ merge (dict "m" "str") (dict "m" (dict "a" 1)) }} {{ merge (dict "m" (dict "a" 1)) (dict "m" "str") }}')
C('{{ mergeOverwrite (dict "m" (dict "a" 1)) (dict "m" "str") }} {{ mergeOverwrite (dict "m" "str") (dict "m" (dict "a" 1)) }} {{ mergeOverwrite (dict "a" 1) (dict "a" nil) }}')
C('{{ merge (dict "a" 1) (dict "b" 2) (dict "b" 3 "c" 4) }} {{ mergeOverwrite (dict "a" 1) (dict "b" 2) (dict "b" 3 "c" 4) }}')
C('{{ $src := dict "n" (dict "x" 1) }}{{ $dst := merge (dict) $src }}{{ $_ := set $dst.n "y" 2 }}{{ $src }}')
C('{{ $a := dict "x" (dict "y" 1) }}{{ $b := deepCopy $a }}{{ $_ := set $b.x "y" 2 }}{{ $a }} {{ $b }} {{ deepCopy (list 1 (dict "a" 1)) }} {{ typeOf (deepCopy .Values) }}', {})
C('{{ deepCopy nil }}')
C('{{ deepEqual (list 1 2) (list 1 2) }} {{ deepEqual (dict "a" 1) (dict "a" 2) }} {{ deepEqual 1 1.0 }}')
C('{{ $d := dict "k" "v" }}{{ with $d }}{{ .k }}{{ end }} {{ $d.k }} {{ $d.missing }}|')
C('{{ merge (dict) .Values }}', {"a": {"b": 1}})
C('{{ get .Values "a" }}', {"a": "via get"})

# --- reflection ---------------------------------------------------------------------------
C('{{ kindOf 1 }} {{ kindOf 1.5 }} {{ kindOf "s" }} {{ kindOf (list) }} {{ kindOf (dict) }} {{ kindOf nil }} {{ kindOf true }} {{ kindOf .Values.n }} {{ kindOf (int64 1) }}', NUMS)
C('{{ typeIs "string" "s" }} {{ typeIs "int" 1 }} {{ typeIs "float64" .Values.n }} {{ kindIs "map" (dict) }} {{ kindIs "slice" (list) }} {{ kindIs "invalid" nil }} {{ typeIsLike "string" "s" }}', NUMS)
C('{{ typeOf .Values.l }} {{ typeOf .Values.m }} {{ typeOf .Values.s }} {{ typeOf .Values.b }} {{ typeOf (index .Values.l 0) }}', {"l": [1], "m": {}, "s": "x", "b": True})
C('{{ typeOf (fromYaml "a: 1") }} {{ typeOf (index (fromYaml "a: 1") "a") }} {{ typeOf (fromJson "{\\"a\\": 1}").a }} {{ typeOf (fromYamlArray "- 1") }}')

# --- encoding -----------------------------------------------------------------------------
C('{{ toJson .Values }}', {"b": [1, 2.5, "x", None, True], "a": {"z": {}, "y": []}, "html": "<a&b>", "u": "é\u2028"})
C('{{ toJson "s" }} {{ toJson 1 }} {{ toJson nil }} {{ toJson 1.5 }} {{ toJson .Values.e }} {{ toJson .Values.tiny }} {{ toJson .Values.big }}', NUMS)
C('{{ toPrettyJson (dict "a" (list 1 2) "b" (dict)) }}')
C('{{ toRawJson (dict "h" "<&>") }}')
C('{{ toJson "\\u0001\\b\\f\\t\\n\\r\\"\\\\/\\u007f" }}')
C('{{ fromJson "{\\"a\\": [1, 2], \\"b\\": {\\"c\\": null}}" }} {{ (fromJson "{\\"n\\": 2}").n }}')
C('{{ fromJson "not json" }}')
C('{{ fromJson "[1]" }}')
C('{{ fromJsonArray "[1, \\"a\\"]" }} {{ fromJsonArray "{}" }}')
C('{{ fromYaml "a: 1\\nb: [x, y]\\nc: {d: e}\\nn: null\\nyes: yes\\nt: true\\nf: 1.5\\nbig: 1000000" }}')
C('{{ (fromYaml "a: 1").a }} {{ fromYaml "" }} {{ fromYaml "- 1" }}')
C('{{ fromYaml ": : :" }}')
C('{{ fromYamlArray "- a\\n- 1\\n- {b: c}" }} {{ fromYamlArray "" }} {{ fromYamlArray "a: 1" }}')
C('{{ fromYaml "a: &x 1\\nb: *x" }}')
C('{{ fromYaml "k: 010\\nh: 0x1F\\no: on\\nd: 2024-01-01\\ns: \'quoted\'\\ntil: ~" }}')
C('{{ include "llm-d-modelservice.resourceClaimsBase" (dict "role" "decode" "Values" .Values "pdSpec" (dict "resourceClaims" (list (dict "name" "c1" "x" "y")))) | fromYamlArray }}', ms=True)
C('{{ mustToJson (dict "a" 1) }} {{ mustToYaml (dict "a" 1) }}')

# --- toYaml -------------------------------------------------------------------------------
TRICKY = ["yes", "no", "on", "off", "y", "n", "true", "True", "null", "~", "", "1.0", "1", "-1", "+1",
          "0x1F", "017", "08", "1e3", ".5", "1.", "1_000", "1:20", "12:30:45", "2024-01-01",
          "2024-01-01T10:00:00Z", "2024-1-2 3:04:05", ":", "a:", "a: b", "a:b", "#x", "a#b", "a #b", "*", "*x",
          "&x", "!x", "|x", ">x", "%x", "@x", "`x", "'x", '"x', "?x", "? x", "-", "-x", "- x", "--",
          "---", "...", "---x", "{x", "}x", "[x", "]x", ",x", "x,y", "x[y]", "x{y}",
          " lead", "trail ", " both ", "two  spaces", "\ttab", "tab\tinside", "x\ny", "x\ny\n",
          "x\n\ny", "\nlead", "trail\n\n", "\n", "x \ny", "x\n y", "é", "日本語", "😀", "a\u0085b",
          "\u00a0", "\u200b", "\ufeff", "\x01", "a\\b", "C:\\path", "<<", "=", ".inf", ".nan",
          "-.inf", "+.inf", ".NaN", "Inf", "NaN", "infinity", "0o17", "0b101", "-0b101", "1e+3",
          "1E3", "+.5", "-.5", "0", "00", "-0", "1e400", "9223372036854775808", "18446744073709551616",
          "99999999999999999999999", "x:\n  y", "key: |\n  v", "{{ .Values.x }}", "a  # c"]
C("{{ toYaml .Values.l }}", {"l": TRICKY})
C("{{ toYaml .Values }}|", {"del": "a\x7fb"})
C("{{ toYaml .Values }}|", {"c1": "a\u0080b"})
C("{{ toYaml .Values }}|", {"ffff": "a\uffffb"})
C("{{ toYaml .Values.m }}", {"m": {s: 1 for s in TRICKY if s != ""}})
C("{{ toYaml .Values }}", {"n": 2, "f": 2.5, "big": 1000000, "e": 1e21, "tiny": 1e-7, "neg": -0.0,
                            "q": 1234567.5, "huge": 1e20, "b": True, "nil": None, "i": 10})
C("{{ toYaml .Values }}", {"a": {"b": {"c": [1, {"d": [[], {}, [1, 2], {"e": "f"}]}]}}, "empty": {}, "el": []})
C("{{ toYaml .Values.l }}", {"l": [[1, 2], [[3]], [{"a": 1, "b": [2]}], {"x": [{"y": 1}]}]})
C("{{ toYaml \"scalar\" }}|{{ toYaml 1 }}|{{ toYaml nil }}|{{ toYaml (list) }}|{{ toYaml (dict) }}|{{ toYaml \"a\\nb\" }}|{{ toYaml \"a\\n\" }}|{{ toYaml true }}|{{ toYaml \"\" }}|{{ toYaml \"yes\" }}")
C("{{ toYaml .Values.m }}", {"m": {"k10": 1, "k2": 2, "K": 3, "_": 4, "a1b": 5, "a01b": 6, "a1": 7, "A": 8,
                                  "a": 9, "1": 10, "10": 11, "2": 12, "-": 13, "é": 14, "z9": 15, "z09": 16,
                                  "z009": 17, "z0": 18, "ab": 19, "aB": 20, "b": 21, "a-b": 22, "a_b": 23,
                                  "a.b": 24, "a b": 25}})
LONG = "word " * 30
C("{{ toYaml .Values }}", {"plain": LONG.strip(), "single": "x: " + LONG.strip(),
                           "double": "\t" + LONG.strip(), "nospace": "x" * 100,
                           "lit": "line one\n" + LONG, "key " * 40: "long key",
                           "multi\nkey": 1, "list": [LONG.strip(), "- " + LONG.strip()],
                           "nested": {"deeper": {"deepest": LONG.strip()}}})
C("{{ toYaml .Values }}", {"sp": "a" * 77 + " b c", "sp2": "a" * 78 + "  b", "sp3": "x " * 50,
                           "dq": "\x01" + "a " * 45, "lead": " " + "b " * 45})
C("{{ toYaml .Values }}", {"lit1": " leading space\nline", "lit2": "\nleading break", "lit3": "trailing space \nx",
                           "lit4": "a\n\n\nb\n\n", "lit5": "a\r\nb", "lit6": "x\n  indented\n", "lit7": "tab\there\nx",
                           "lit8": "only\n", "lit9": "  \n", "lit10": "a \n b"})
C("{{ toYaml .Values.l | indent 2 }}", {"l": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]})
C("{{- toYaml .Values.env | nindent 2 }}", {"env": [{"name": "X", "value": "{{ .Release.Name }}"}]})
C("{{ toYaml .Values.x }}", {"x": {"a": "{{ .Release.Name }}", "b": ["{{ x }}"], "c": "{x}"}})
C("{{ toYamlPretty (dict \"a\" (list 1 2) \"b\" (dict \"c\" 1)) }}")

# --- tpl and the chart's helpers ----------------------------------------------------------
C('{{ tpl "{{ .Release.Name }}-x" . }}', release="r1")
C('{{ tpl .Values.t . }}', {"t": "{{ .Values.a }} and {{ .Values.b | quote }}", "a": "A", "b": "B"})
C('{{ tpl "{{ .missing }}" . }}|')
C('{{ tpl "{{ define \\"inner\\" }}I{{ end }}{{ include \\"inner\\" . }}" . }}')
C('{{ tpl "{{ fail \\"from tpl\\" }}" . }}')
C('{{ tpl "{{ .a }}" (dict "a" 1) }}')
C('{{ tpl "{{ .a }}" (dict "a" 1 "Template" .Template) }}')
C('{{ tpl "{{ if }}" . }}')
C('{{ tpl "{{ $.Values.x }}" . }}', {"x": "dollar"})
C('{{ tpl (toYaml .Values.obj) . }}', {"obj": {"name": "{{ .Release.Name }}-cm", "data": {"k": "{{ .Values.v }}"}}, "v": "val"})
C('{{ include "llm-d-modelservice.fullname" . }}', release="rel", ms=True)
C('{{ include "llm-d-modelservice.fullname" . }}', release="my-llm-d-modelservice-x", ms=True)
C('{{ include "llm-d-modelservice.fullname" . }}', {"fullnameOverride": "override-" + "x" * 60}, ms=True)
C('{{ include "llm-d-modelservice.fullname" . }}', {"nameOverride": "ms"}, release="rel", ms=True)
C('{{ include "llm-d-modelservice.name" . }} {{ include "llm-d-modelservice.chart" . }}', ms=True)
C('{{ include "llm-d-modelservice.labels" . }}', ms=True)
C('{{ include "llm-d-modelservice.sanitizedModelName" . }}', release="My_Rel.v1--", ms=True)
C('{{ include "llm-d-modelservice.decodeName" . }} {{ include "llm-d-modelservice.prefillName" . }} {{ include "llm-d-modelservice.pdServiceAccountName" . }}', ms=True)
C('{{ include "llm-d-modelservice.decodelabels" . }}', {"modelArtifacts": {"labels": {"app": "x", "llm-d.ai/model": "m"}}}, ms=True)
C('{{ include "llm-d-modelservice.dataParallelism" (dict "data" 4) }} {{ include "llm-d-modelservice.dataLocalParallelism" (dict "data" 4 "workers" 2) }} {{ include "llm-d-modelservice.numWorkers" (dict "data" 4 "dataLocal" 2) }} {{ include "llm-d-modelservice.tensorParallelism" (dict) }}', ms=True)
C('{{ include "llm-d-modelservice.dataLocalParallelism" .Values.decode.parallelism }}', {"decode": {"parallelism": {"data": 3, "workers": 2}}}, ms=True)
C('{{ include "llm-d-modelservice.numGpuPerWorker" .Values.decode.parallelism }}', {"decode": {"parallelism": {"tensor": 2, "dataLocal": 2}}}, ms=True)
C('{{ include "llm-d-modelservice.acceleratorTypes" .Values.decode.acceleratorTypes }}', {"decode": {"acceleratorTypes": {"labelKey": "gpu", "labelValues": ["a100", "h100"]}}}, ms=True)
C('{{ include "llm-d-modelservice.mountModelVolumeVolumes" .Values.modelArtifacts }}', {"modelArtifacts": {"uri": "pvc://claim/path/to/model", "readOnly": True}}, ms=True)
C('{{ include "llm-d-modelservice.mountModelVolumeVolumes" .Values.modelArtifacts }}', {"modelArtifacts": {"uri": "hf://org/model", "size": "20Gi"}}, ms=True)
C('{{ include "llm-d-modelservice.argsByProtocol" . }}', {"modelArtifacts": {"uri": "hf://org/model"}}, ms=True)
C('{{ include "llm-d-modelservice.argsByProtocol" . }}', {"modelArtifacts": {"uri": "pvc+hf://claim/cache/org/model"}}, ms=True)
C('{{ include "llm-d-modelservice.argsByProtocol" . }}', {"modelArtifacts": {"uri": "oci://image"}}, ms=True)
C('{{ include "llm-d-modelservice.hfEnv" (dict "Values" .Values "container" (dict "mountModelVolume" true)) }}', {"modelArtifacts": {"uri": "pvc+hf://claim/a/b/org/model", "authSecretName": "hf-secret"}}, ms=True)
C('{{ include "llm-d-modelservice.vllmPort" (merge (dict "role" "decode") .) }}', ms=True)
C('{{ include "llm-d-modelservice.routingProxy" (dict "proxy" .Values.routing.proxy "servicePort" .Values.routing.servicePort "Values" .Values) }}', {"routing": {"proxy": {"image": "ghcr.io/x/proxy:v1"}}}, ms=True)
C('{{ include "llm-d-modelservice.routingProxy" (dict "proxy" (dict "enabled" true) "servicePort" 8000 "Values" .Values) }}', ms=True)
C('{{ include "llm-d-modelservice.draEnabled" (dict "role" "decode" "Values" .Values) }} {{ include "llm-d-modelservice.acceleratorType" (dict "role" "prefill" "Values" .Values) }} {{ include "llm-d-modelservice.acceleratorResource" (dict "role" "decode" "Values" .Values) }}', ms=True)
C('{{ include "llm-d-modelservice.resources" (dict "resources" (dict "limits" (dict "cpu" "1")) "parallelism" (dict "tensor" 2) "container" (dict) "Values" .Values "role" "decode" "pdSpec" .Values.decode) }}', ms=True)
C('{{ include "llm-d-modelservice.acceleratorWarning" (dict "parallelism" (dict "tensor" 2) "resources" (dict "limits" (dict "nvidia.com/gpu" 4)) "Values" .Values "container" (dict)) }}', ms=True)
C('{{ include "llm-d-modelservice.podResourceClaims" (dict "role" "decode" "Values" .Values "pdSpec" (dict "resourceClaims" (list (dict "name" "c1")))) }}', ms=True)
C('{{ include "llm-d-modelservice.draResourceClaimTemplateConfig" (dict "role" "decode" "Values" .Values) }}', ms=True)
C('{{ include "llm-d-modelservice.command" (dict "container" (dict "modelCommand" "bogus")) }}', ms=True)
C('{{ include "llm-d-modelservice.command" (dict "container" (dict "command" (list "sh" "-c") "args" (list "x"))) }}', ms=True)
C('{{ include "llm-d-modelservice.container" (dict "role" "decode" "container" (index .Values.decode.containers 0) "parallelism" .Values.decode.parallelism "Values" .Values "Release" .Release "Chart" .Chart "pdSpec" .Values.decode) }}',
  {"decode": {"containers": [{"name": "vllm", "image": "vllm/vllm:v1", "modelCommand": "vllmServe",
                              "args": ["--x"], "env": [{"name": "A", "value": "{{ .Release.Name }}"}],
                              "ports": [{"containerPort": 8200, "name": "{{ .Values.portName }}"}],
                              "mountModelVolume": True, "extraConfig": {"workingDir": "/w"}}],
              "parallelism": {"tensor": 2}},
   "modelArtifacts": {"uri": "hf://org/model", "name": "org/model"}, "portName": "http"}, release="r", ms=True)
C('{{ include "llm-d-modelservice.container" (dict "role" "decode" "container" (dict "name" "x") "parallelism" (dict) "Values" .Values "Release" .Release "Chart" .Chart "pdSpec" .Values.decode) }}', ms=True)
C('{{ include "llm-d-modelservice.modelPod" (dict "role" "decode" "pdSpec" .Values.decode "Values" .Values "Release" .Release "Chart" .Chart) }}',
  {"decode": {"containers": [{"name": "vllm", "image": "x", "mountModelVolume": True}], "schedulerName": "s",
              "extraConfig": {"nodeName": "{{ .Release.Name }}-node"}, "volumes": [{"name": "v", "emptyDir": {}}]},
   "modelArtifacts": {"uri": "hf://org/model"}}, ms=True)
C('{{- range .Values.extraObjects }}\n---\n{{ include "common.tplvalues.render" (dict "value" . "context" $) }}\n{{- end }}',
  {"extraObjects": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "{{ .Release.Name }}-config"},
                     "data": {"model": "{{ .Values.modelArtifacts.name }}", "plain": "x"}},
                    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-s\n"]}, release="r2", ms=True)
C('{{ include "common.tplvalues.render" (dict "value" .Values.v "context" $) }}', {"v": {"a": "no templates", "n": 1}}, ms=True)
C('{{ include "common.tplvalues.render" (dict "value" .Values.v "context" $ "scope" (dict "x" "scoped")) }}', {"v": "{{ .x }}-{{ $.Release.Name }}"}, ms=True)
C('{{ include "common.tplvalues.render" (dict "value" "{{ .Chart.Name }}" "context" $) }}', ms=True)
C('{{ include "common.tplvalues.merge" (dict "values" (list .Values.a .Values.b) "context" $) }}', {"a": {"x": "{{ .Release.Name }}", "k": 1}, "b": {"y": 2, "k": 3}}, ms=True)
C('{{ include "common.tplvalues.merge-overwrite" (dict "values" (list .Values.a .Values.b) "context" $) }}', {"a": {"x": "{{ .Release.Name }}", "k": 1}, "b": {"y": 2, "k": 3}}, ms=True)
C('{{ include "common.names.fullname" . }} {{ include "common.names.name" . }} {{ include "common.names.namespace" . }} {{ include "common.names.chart" . }}', ms=True, namespace="ms-ns")
C('{{ include "common.labels.standard" (dict "customLabels" (dict "x" "y") "context" $) }}', ms=True)
C('{{ .Chart.Name }} {{ .Chart.Version }} {{ .Chart.AppVersion }} {{ .Chart.Type }} {{ .Chart.Description }}', ms=True)
C('{{ .Values.decode.replicas }} {{ .Values.routing.servicePort }} {{ typeOf .Values.routing.servicePort }}', ms=True)

# --- functions Helm defines ---------------------------------------------------------------
# Every name the engine may be asked about: a template naming a function Helm does not define
# fails to parse, so the engine must know exactly which names exist.
CANDIDATE_FUNCTIONS = """
and or not len index slice print printf println eq ne lt le gt ge html js urlquery call
include tpl required lookup toToml fromToml toYaml toYamlPretty mustToYaml fromYaml mustFromYaml
fromYamlArray mustFromYamlArray toJson mustToJson fromJson mustFromJson fromJsonArray
mustFromJsonArray toPrettyJson toRawJson mustToPrettyJson mustToRawJson env expandenv
hello ago date date_in_zone date_modify dateInZone dateModify duration durationRound htmlDate
htmlDateInZone must_date_modify mustDateModify mustToDate now toDate unixEpoch abbrev abbrevboth
trunc trim upper lower title untitle substr repeat trimall trimAll trimSuffix trimPrefix nospace
initials randAlphaNum randAlpha randAscii randNumeric randSeededNumeric swapcase shuffle snakecase
camelcase kebabcase wrap wrapWith contains hasPrefix hasSuffix quote squote cat indent nindent
replace plural sha1sum sha256sum sha512sum md5sum adler32sum toString atoi int64 int float64 seq
toDecimal split splitList splitn toStrings until untilStep add1 add sub div mod mul randInt add1f
addf subf divf mulf biggest max min maxf minf ceil floor round join sortAlpha default empty
coalesce all any compact mustCompact ternary deepCopy mustDeepCopy typeOf typeIs typeIsLike kindOf
kindIs deepEqual getHostByName base dir clean ext isAbs osBase osClean osDir osExt osIsAbs b64enc
b64dec b32enc b32dec tuple list dict get set unset hasKey pluck keys pick omit merge
mergeOverwrite mustMerge mustMergeOverwrite values append push mustAppend mustPush prepend
mustPrepend first mustFirst rest mustRest last mustLast initial mustInitial reverse mustReverse
uniq mustUniq without mustWithout has mustHas mustSlice concat dig chunk mustChunk bcrypt htpasswd
genPrivateKey derivePassword buildCustomCert genCA genCAWithKey genSelfSignedCert
genSelfSignedCertWithKey genSignedCert genSignedCertWithKey encryptAES decryptAES randBytes uuidv4
semver semverCompare fail regexMatch mustRegexMatch regexFindAll mustRegexFindAll regexFind
mustRegexFind regexReplaceAll mustRegexReplaceAll regexReplaceAllLiteral
mustRegexReplaceAllLiteral regexSplit mustRegexSplit regexQuoteMeta urlParse urlJoin
""".split()


def make_chart(tmp, case):
    if case["chart"] == "modelservice":
        root = os.path.join(tmp, "llm-d-modelservice")
        shutil.copytree(CHART, root)
        for f in os.listdir(os.path.join(root, "templates")):
            if not f.startswith("_"):
                os.remove(os.path.join(root, "templates", f))
        for f in ("values.schema.json", "values.schema.tmpl.json"):
            if os.path.exists(os.path.join(root, f)):
                os.remove(os.path.join(root, f))
    else:
        root = os.path.join(tmp, "tc")
        os.makedirs(os.path.join(root, "templates"))
        with open(os.path.join(root, "Chart.yaml"), "w") as f:
            f.write("apiVersion: v2\nname: tc\nversion: 0.1.0\n")
    with open(os.path.join(root, "templates", "case.yaml"), "w") as f:
        f.write(case["template"])
    return root


def innermost(message):
    line = message.strip().splitlines()[-1].strip()
    for prefix in ("execution error at (", "parse error at ("):
        if line.startswith(prefix) and "): " in line:
            return line.split("): ", 1)[1]
    return line


def render(case):
    with tempfile.TemporaryDirectory() as tmp:
        root = make_chart(tmp, case)
        with helm.Chart.load(root) as chart:
            try:
                out = chart.render(case["values"], name=case["release"], namespace=case["namespace"])
            except helm.HelmError as e:
                return {"error": str(e), "error_contains": innermost(str(e))}
            key = [k for k in out if k.endswith("/templates/case.yaml")]
            return {"output": out[key[0]] if key else ""}


def defined_functions():
    names = []
    for name in CANDIDATE_FUNCTIONS:
        probe = {"chart": "tc", "template": "{{ if false }}{{ %s }}{{ end }}" % name, "values": {},
                 "release": "rel", "namespace": "ns"}
        if "error" not in render(probe):
            names.append(name)
    return sorted(set(names))


def main():
    cases = []
    seen = set()
    for case in CASES:
        key = (case["template"], json.dumps(case["values"], sort_keys=True), case["release"], case["chart"])
        if key in seen:
            continue
        seen.add(key)
        case = dict(case)
        case.update(render(case))
        cases.append(case)
    with tempfile.TemporaryDirectory() as tmp:
        root = make_chart(tmp, {"chart": "modelservice", "template": ""})
        with helm.Chart.load(root) as chart:
            defaults = chart.merge_values({})
    golden = {
        "helm": "Helm SDK " + helm.helm_sdk_version(),
        "functions": defined_functions(),
        "modelservice_values": defaults,
        "cases": cases,
    }
    with open(OUT, "w") as f:
        json.dump(golden, f, indent=1, ensure_ascii=False, sort_keys=False)
        f.write("\n")
    errors = sum(1 for c in cases if "error" in c)
    print(f"{len(cases)} cases ({errors} errors) written to {os.path.relpath(OUT, REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
