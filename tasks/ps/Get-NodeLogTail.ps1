<#
.SYNOPSIS
    The last lines of the kubelet, kube-proxy, calico-node and felix logs on this host, as one object.
.DESCRIPTION
    Read-only. For each component the most recently written of its log files is read (nssm writes a service's
    stdout and stderr to separate files); a component without any log file yields an empty string.
.PARAMETER Lines
    How many lines to return from the end of each log.
.PARAMETER CalicoRoot
    Where Calico for Windows is installed (its logs are in the logs directory below it).
#>
[CmdletBinding()]
param(
    [int]$Lines = 50,
    [string]$CalicoRoot = 'C:\CalicoWindows'
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

function Get-LogTail {
    param([string[]]$Candidates, [int]$Count)
    $files = @($Candidates | Where-Object { Test-Path -Path $_ -PathType Leaf } | ForEach-Object { Get-Item -Path $_ })
    if ($files.Count -eq 0) {
        return ''
    }
    $latest = $files | Sort-Object -Property LastWriteTime -Descending | Select-Object -First 1
    return ((Get-Content -Path $latest.FullName -Tail $Count) -join "`n")
}

$logDir = Join-Path -Path $CalicoRoot -ChildPath 'logs'

[pscustomobject]@{
    Kubelet     = Get-LogTail -Count $Lines -Candidates @(
        (Join-Path -Path $logDir -ChildPath 'kubelet.err.log'), (Join-Path -Path $logDir -ChildPath 'kubelet.log'),
        'c:\k\kubelet.err.log', 'c:\k\kubelet.out.log', 'c:\k\kubelet.log')
    KubeProxy   = Get-LogTail -Count $Lines -Candidates @(
        (Join-Path -Path $logDir -ChildPath 'kube-proxy.err.log'), (Join-Path -Path $logDir -ChildPath 'kube-proxy.log'),
        'c:\k\kube-proxy.err.log', 'c:\k\kube-proxy.out.log', 'c:\k\kube-proxy.log')
    CalicoNode  = Get-LogTail -Count $Lines -Candidates @(
        (Join-Path -Path $logDir -ChildPath 'calico-node.err.log'), (Join-Path -Path $logDir -ChildPath 'calico-node.log'))
    CalicoFelix = Get-LogTail -Count $Lines -Candidates @(
        (Join-Path -Path $logDir -ChildPath 'calico-felix.err.log'), (Join-Path -Path $logDir -ChildPath 'calico-felix.log'))
}
