<#
.SYNOPSIS
    Facts about this Windows node that the join prerequisites check, as one object.
.DESCRIPTION
    Read-only. Reports the OS identity and patch level, installed hotfixes, the Containers feature and a pending
    reboot, the container runtime, free space on the system drive, whether the Kubernetes API server accepts TCP
    connections from this host, whether the Kubernetes directory exists, the last boot time and the IPv4
    addresses (no loopback, no 169.254.x.x).
.PARAMETER ApiServerHost
    Host name or IP address of the Kubernetes API server (the kubeconfig's server). Empty: not tested.
.PARAMETER ApiServerPort
    TCP port of the Kubernetes API server.
.PARAMETER KubeDir
    The Kubernetes directory on this node.
#>
[CmdletBinding()]
param(
    [string]$ApiServerHost = '',
    [int]$ApiServerPort = 6443,
    [string]$KubeDir = 'c:\k'
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

function Test-TcpPort {
    param([string]$TargetHost, [int]$Port, [int]$TimeoutMs = 3000)
    $client = New-Object -TypeName System.Net.Sockets.TcpClient
    try {
        $attempt = $client.BeginConnect($TargetHost, $Port, $null, $null)
        if (-not $attempt.AsyncWaitHandle.WaitOne($TimeoutMs, $false)) {
            return $false
        }
        $client.EndConnect($attempt)
        return $true
    }
    catch {
        return $false
    }
    finally {
        $client.Close()
    }
}

function Get-RuntimeVersion {
    param([string]$ServiceName)
    $service = Get-CimInstance -ClassName Win32_Service -Filter "Name='$ServiceName'"
    if (-not $service -or -not $service.PathName) {
        return ''
    }
    $exe = $service.PathName
    if ($exe.StartsWith('"')) {
        $exe = $exe.Substring(1, $exe.IndexOf('"', 1) - 1)
    }
    else {
        $exe = ($exe -split ' ')[0]
    }
    if (-not (Test-Path -Path $exe -PathType Leaf)) {
        return ''
    }
    try {
        $text = (& $exe --version 2>$null) | Out-String
    }
    catch {
        return ''
    }
    if ($text -match '(\d+\.\d+\.\d+)') {
        return $Matches[1]
    }
    return ''
}

$currentVersion = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$buildNumber = [int]$currentVersion.CurrentBuildNumber
$ubr = [int]$currentVersion.UBR

$pendingReboot = (Test-Path -Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending') -or
    (Test-Path -Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired')
$sessionManager = Get-ItemProperty -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager'
if ($sessionManager.PSObject.Properties['PendingFileRenameOperations'] -and $sessionManager.PendingFileRenameOperations) {
    $pendingReboot = $true
}

$containersFeature = Get-WindowsFeature -Name Containers
$containersState = 'Removed'
if ($containersFeature) {
    $containersState = [string]$containersFeature.InstallState
}

$runtime = ''
$runtimeVersion = ''
$runtimeRunning = $false
foreach ($candidate in @('containerd', 'docker')) {
    $service = Get-Service -Name $candidate -ErrorAction SilentlyContinue
    if ($service) {
        $runtime = $candidate
        $runtimeRunning = ([string]$service.Status -eq 'Running')
        $runtimeVersion = Get-RuntimeVersion -ServiceName $candidate
        break
    }
}

$systemDrive = Get-PSDrive -Name ($env:SystemDrive.TrimEnd(':'))
$freeDiskGB = [math]::Round($systemDrive.Free / 1073741824, 2)

$apiServerReachable = $false
if ($ApiServerHost) {
    $apiServerReachable = Test-TcpPort -TargetHost $ApiServerHost -Port $ApiServerPort
}

$ipv4 = @(Get-NetIPAddress -AddressFamily IPv4 |
    Where-Object { $_.IPAddress -ne '127.0.0.1' -and -not $_.IPAddress.StartsWith('169.254.') } |
    ForEach-Object { [string]$_.IPAddress })

[pscustomobject]@{
    ComputerName            = [System.Net.Dns]::GetHostName()
    OsCaption               = [string]$currentVersion.ProductName
    OsBuild                 = "10.0.$buildNumber.$ubr"
    BuildNumber             = $buildNumber
    UBR                     = $ubr
    HotFixIds               = @(Get-HotFix | ForEach-Object { [string]$_.HotFixID })
    ContainersFeature       = $containersState
    PendingReboot           = [bool]$pendingReboot
    ContainerRuntime        = $runtime
    ContainerRuntimeVersion = $runtimeVersion
    ContainerRuntimeRunning = [bool]$runtimeRunning
    FreeDiskGB              = [double]$freeDiskGB
    ApiServerReachable      = [bool]$apiServerReachable
    KubeDirExists           = [bool](Test-Path -Path $KubeDir -PathType Container)
    LastBootTime            = $os.LastBootUpTime.ToString('o')
    IPv4Addresses           = $ipv4
}
