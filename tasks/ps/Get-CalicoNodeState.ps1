<#
.SYNOPSIS
    The state of Calico for Windows and the Kubernetes node services on this host, as one object.
.DESCRIPTION
    Read-only. Reports the Calico and Kubernetes services, the values config.ps1 gives the Calico services
    (evaluated in a separate process, as the services see them), the installed Calico version, the boot time
    Calico stored against the current one, the HNS networks, whether the Calico_ep endpoint exists and whether
    Calico's kubeconfig is present.
.PARAMETER CalicoRoot
    Where Calico for Windows is installed.
#>
[CmdletBinding()]
param(
    [string]$CalicoRoot = 'C:\CalicoWindows'
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

$serviceNames = @('CalicoNode', 'CalicoFelix', 'CalicoConfd', 'CalicoUpgrade', 'kubelet', 'kube-proxy')
$services = @(foreach ($name in $serviceNames) {
    $service = Get-Service -Name $name -ErrorAction SilentlyContinue
    if ($service) {
        [pscustomobject]@{
            Name      = [string]$service.Name
            Status    = [string]$service.Status
            StartType = [string]$service.StartType
        }
    }
})

$config = [ordered]@{}
$configPath = Join-Path -Path $CalicoRoot -ChildPath 'config.ps1'
if (Test-Path -Path $configPath -PathType Leaf) {
    $text = Get-Content -Path $configPath -Raw
    $pattern = '(?im)^\s*(?:\$env:(\w+)\s*=|Set-EnvVarIfNotSet\s+-var\s+"?(\w+)"?)'
    $names = @([regex]::Matches($text, $pattern) | ForEach-Object {
        if ($_.Groups[1].Success) { $_.Groups[1].Value } else { $_.Groups[2].Value }
    } | Select-Object -Unique)
    $job = Start-Job -ScriptBlock {
        param([string]$Path, [string[]]$Names)
        . $Path
        foreach ($n in $Names) {
            [pscustomobject]@{ Name = $n; Value = [Environment]::GetEnvironmentVariable($n) }
        }
    } -ArgumentList $configPath, $names
    foreach ($pair in @(Receive-Job -Job $job -Wait -AutoRemoveJob)) {
        if ($null -ne $pair.Value) {
            $config[[string]$pair.Name] = [string]$pair.Value
        }
    }
}

$installedVersion = ''
$nodeExe = Join-Path -Path $CalicoRoot -ChildPath 'calico-node.exe'
if (Test-Path -Path $nodeExe -PathType Leaf) {
    try {
        $versionText = (& $nodeExe -v 2>$null) | Out-String
        if ($versionText -match '(\d+\.\d+\.\d+)') {
            $installedVersion = $Matches[1]
        }
    }
    catch {
        $installedVersion = ''
    }
}

$storedLastBootTime = ''
$calicoKey = 'HKLM:\Software\Tigera\Calico'
if (Test-Path -Path $calicoKey) {
    $calicoValues = Get-ItemProperty -Path $calicoKey
    if ($calicoValues.PSObject.Properties['LastBootTime']) {
        $storedLastBootTime = [string]$calicoValues.LastBootTime
    }
}
$currentLastBootTime = (Get-CimInstance -ClassName Win32_OperatingSystem).LastBootUpTime.ToString()

$hnsNetworks = @()
$calicoEndpointExists = $false
if (-not (Get-Command -Name Get-HnsNetwork -ErrorAction SilentlyContinue)) {
    $hnsModule = Join-Path -Path $CalicoRoot -ChildPath 'libs\hns\hns.psm1'
    if (Test-Path -Path $hnsModule -PathType Leaf) {
        Import-Module -Name $hnsModule -DisableNameChecking
    }
}
if (Get-Command -Name Get-HnsNetwork -ErrorAction SilentlyContinue) {
    $hnsNetworks = @(Get-HnsNetwork | ForEach-Object {
        [pscustomobject]@{ Name = [string]$_.Name; Type = [string]$_.Type }
    })
    $calicoEndpointExists = @(Get-HnsEndpoint | Where-Object { $_.Name -eq 'Calico_ep' }).Count -gt 0
}

$kubeconfigPath = Join-Path -Path $CalicoRoot -ChildPath 'calico-kube-config'
if ($config.Contains('KUBECONFIG') -and $config['KUBECONFIG']) {
    $kubeconfigPath = $config['KUBECONFIG']
}

[pscustomobject]@{
    Services             = $services
    Config               = $config
    InstalledVersion     = $installedVersion
    StoredLastBootTime   = $storedLastBootTime
    CurrentLastBootTime  = $currentLastBootTime
    HnsNetworks          = $hnsNetworks
    CalicoEndpointExists = [bool]$calicoEndpointExists
    KubeconfigPresent    = [bool](Test-Path -Path $kubeconfigPath -PathType Leaf)
}
